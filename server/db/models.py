"""The relational schema. Everything a client encrypts is stored as an opaque string.

Times are integer milliseconds since the epoch (portable between SQLite and PostgreSQL, and what
the wire protocol carries). Identifiers are random strings made by `new_id` so that they reveal
neither counts nor creation order across rooms.
"""

from __future__ import annotations

import secrets
import time

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ROLES = ("admin", "clinician", "assistant", "caregiver", "patient")
ROOM_ROLES = ("owner", "member")


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(12)}"


def now_ms() -> int:
    return int(time.time() * 1000)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    username: Mapped[str] = mapped_column(String(120), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    # Sealed under the server's TOTP key (server/auth/totp_secrets.py): `v1:<key id>:<base64>`.
    totp_secret: Mapped[str | None] = mapped_column(String(255))
    # Time step of the last TOTP code accepted at login: a code is never accepted twice.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Unused since 0006 (lockout moved to `login_failures`); kept so older rows stay valid.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[int] = mapped_column(BigInteger, default=0)
    # E2EE: the user's public identity key and their signed device list (opaque to the server).
    identity_key: Mapped[str | None] = mapped_column(Text)
    signed_device_list: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)


class LoginFailure(Base):
    """Recent failed-login counts per username or client address (server/auth/lockout.py).

    `key` is a SHA-256 of `user:<name>` or `ip:<address>`, so names without an account count
    and lock exactly like real ones. A row is dead once `expires_at` passes and is swept.
    """

    __tablename__ = "login_failures"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    window_start: Mapped[int] = mapped_column(BigInteger)
    locked_until: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)


class DeviceListLog(Base):
    """Every signed device list a user published under their current identity key, by version.

    Clients verify the hash links between consecutive lists (docs/crypto.md §2.5); the server
    keeps them so a client that pinned version n can check a later head against it. The rows of
    a previous identity key are deleted when the user resets their identity.
    """

    __tablename__ = "device_list_log"
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    signed_device_list: Mapped[str] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)


class Device(Base):
    __tablename__ = "devices"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    # Public keys only, as published by the client (JSON text, opaque here).
    public_keys: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger)
    # Unlocks the device's local vault in a browser (server/auth/vault_key.py); NULL until first
    # asked for, and again once the device is revoked, so a copied browser profile stays sealed.
    vault_key: Mapped[str | None] = mapped_column(String(64))


class Session(Base):
    __tablename__ = "sessions"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger)
    last_seen_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    user_agent: Mapped[str | None] = mapped_column(String(300))


class Invite(Base):
    """A single-use patient invitation; only hashes of the token and code are kept."""

    __tablename__ = "invites"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    code_hash: Mapped[str | None] = mapped_column(String(200))
    display_name: Mapped[str] = mapped_column(String(200))
    room_id: Mapped[str | None] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    created_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    used_at: Mapped[int | None] = mapped_column(BigInteger)
    failed_codes: Mapped[int] = mapped_column(Integer, default=0)
    redeemed_user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))


class Room(Base):
    __tablename__ = "rooms"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    patient_user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    created_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    # Encrypted room metadata (title, ...): ciphertext made by clients.
    encrypted_meta: Mapped[str | None] = mapped_column(Text)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    last_event_seq: Mapped[int] = mapped_column(Integer, default=0)
    # Number of signed (E2EE chain) membership events: senders must have seen all of them.
    chain_length: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)


class Membership(Base):
    """Current members: the server's truth for access control."""

    __tablename__ = "memberships"
    room_id: Mapped[str] = mapped_column(
        ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    room_role: Mapped[str] = mapped_column(String(20))
    added_by: Mapped[str] = mapped_column(String(40))
    added_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    # First room seq this member may read (history policy is enforced by keys, not here).
    joined_seq: Mapped[int] = mapped_column(BigInteger, default=0)


class MembershipEvent(Base):
    """Every membership change with the acting client's opaque signed event (E2EE chain)."""

    __tablename__ = "membership_events"
    room_id: Mapped[str] = mapped_column(
        ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True
    )
    event_seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    action: Mapped[str] = mapped_column(String(20))
    actor_user_id: Mapped[str] = mapped_column(String(40))
    target_user_id: Mapped[str] = mapped_column(String(40))
    room_role: Mapped[str | None] = mapped_column(String(20))
    consent_id: Mapped[str | None] = mapped_column(String(40))
    signed_event: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)


class Consent(Base):
    """A patient's recorded consent to let someone outside the care team into their room."""

    __tablename__ = "consents"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"), index=True)
    subject_user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    recorded_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    method: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    used_at: Mapped[int | None] = mapped_column(BigInteger)


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("room_id", "seq", name="uq_messages_room_seq"),
        UniqueConstraint("sender_device_id", "client_msg_id", name="uq_messages_device_client"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(BigInteger)
    sender_user_id: Mapped[str] = mapped_column(String(40))
    sender_device_id: Mapped[str] = mapped_column(String(40))
    client_msg_id: Mapped[str] = mapped_column(String(64))
    envelope: Mapped[str] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(BigInteger)


class ToDevice(Base):
    """Per-device queue of opaque payloads, kept until the recipient device acks them."""

    __tablename__ = "to_device"
    __table_args__ = (
        UniqueConstraint(
            "sender_device_id", "client_msg_id", "recipient_device_id", name="uq_to_device_idem"
        ),
        Index("ix_to_device_recipient", "recipient_device_id", "id"),
    )
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    recipient_device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    recipient_user_id: Mapped[str] = mapped_column(String(40))
    sender_user_id: Mapped[str] = mapped_column(String(40))
    sender_device_id: Mapped[str] = mapped_column(String(40))
    client_msg_id: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(BigInteger)


class ReadReceipt(Base):
    __tablename__ = "read_receipts"
    room_id: Mapped[str] = mapped_column(
        ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class Attachment(Base):
    """A ciphertext blob on disk; the key and plaintext hash travel inside the E2EE message."""

    __tablename__ = "attachments"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"), index=True)
    uploader_user_id: Mapped[str] = mapped_column(String(40))
    uploader_device_id: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)


class KeyBackup(Base):
    """A user's encrypted key backup header: `info` is the client's wrapped backup key (opaque).

    `version` moves by one when the client starts a new backup key; entries of older versions
    are deleted with that change, since nothing could decrypt them any more.
    """

    __tablename__ = "key_backups"
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer)
    info: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)


class KeyBackupEntry(Base):
    """One encrypted backup item (e.g. a room key), named by a client-chosen id."""

    __tablename__ = "key_backup_entries"
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    entry_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    data: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)


class AuditEvent(Base):
    """Append-only, hash-chained: hash = SHA-256(prev_hash || canonical JSON of the row)."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    ts: Mapped[int] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(40))
    actor_user_id: Mapped[str | None] = mapped_column(String(40))
    actor_device_id: Mapped[str | None] = mapped_column(String(40))
    on_behalf_of: Mapped[str | None] = mapped_column(String(40))
    room_id: Mapped[str | None] = mapped_column(String(40), index=True)
    target: Mapped[str | None] = mapped_column(String(80))
    ip: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """One row: the chain's tip. Locking it serialises appends across nodes."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_id: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[str] = mapped_column(String(64))


class Consultation(Base):
    """A teleconsultation: who hosts it, which care room it came from, its text channel."""

    __tablename__ = "consultations"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    host_user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    created_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    # The care room it was opened from (None: standalone).
    room_id: Mapped[str | None] = mapped_column(ForeignKey("rooms.id", ondelete="SET NULL"))
    # The ordinary E2EE room that carries the consultation's text channel.
    chat_room_id: Mapped[str | None] = mapped_column(ForeignKey("rooms.id", ondelete="SET NULL"))
    assisted: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    ended_at: Mapped[int | None] = mapped_column(BigInteger)
    ended_by: Mapped[str | None] = mapped_column(String(40))


class ConsultationParticipant(Base):
    """One person in one consultation, with their role and where they are in the waiting room.

    `user_id` is None for a walk-in patient represented by an assistant (`represented_by`, the
    assistant's participant id); a patient who came by link has a guest account (`guest`)."""

    __tablename__ = "consultation_participants"
    __table_args__ = (
        UniqueConstraint("consultation_id", "user_id", name="uq_consultation_participants_user"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    consultation_id: Mapped[str] = mapped_column(
        ForeignKey("consultations.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(20))
    display_name: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(20))
    present: Mapped[bool] = mapped_column(Boolean, default=False)
    guest: Mapped[bool] = mapped_column(Boolean, default=False)
    represented_by: Mapped[str | None] = mapped_column(String(40))
    invited_by: Mapped[str] = mapped_column(String(40))
    invited_at: Mapped[int] = mapped_column(BigInteger)
    joined_at: Mapped[int | None] = mapped_column(BigInteger)
    admitted_at: Mapped[int | None] = mapped_column(BigInteger)
    left_at: Mapped[int | None] = mapped_column(BigInteger)


class ConsultationLink(Base):
    """A single-use patient link to a consultation; only hashes of the token and code are kept."""

    __tablename__ = "consultation_links"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    consultation_id: Mapped[str] = mapped_column(
        ForeignKey("consultations.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    code_hash: Mapped[str | None] = mapped_column(String(200))
    display_name: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    used_at: Mapped[int | None] = mapped_column(BigInteger)
    failed_codes: Mapped[int] = mapped_column(Integer, default=0)
    participant_id: Mapped[str | None] = mapped_column(String(40))


class ConsultationEvent(Base):
    """The session record: joins, admissions, departures, mode changes and their measured cause.
    Never media, never message content."""

    __tablename__ = "consultation_events"
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    consultation_id: Mapped[str] = mapped_column(
        ForeignKey("consultations.id", ondelete="CASCADE"), index=True
    )
    ts: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(30))
    participant_id: Mapped[str | None] = mapped_column(String(40))
    actor_user_id: Mapped[str | None] = mapped_column(String(40))
    detail: Mapped[str | None] = mapped_column(Text)


class ConsultationIdentity(Base):
    """Patient data: the identity check an assistant made of a walk-in patient (docs/security.md
    says who may read it)."""

    __tablename__ = "consultation_identities"
    participant_id: Mapped[str] = mapped_column(
        ForeignKey("consultation_participants.id", ondelete="CASCADE"), primary_key=True
    )
    consultation_id: Mapped[str] = mapped_column(
        ForeignKey("consultations.id", ondelete="CASCADE"), index=True
    )
    full_name: Mapped[str] = mapped_column(String(200))
    birth_date: Mapped[str] = mapped_column(String(10))
    check_method: Mapped[str] = mapped_column(String(30))
    check_detail: Mapped[str | None] = mapped_column(String(200))
    checked_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    checked_at: Mapped[int] = mapped_column(BigInteger)


class ConsultationConsent(Base):
    """A patient's recorded consent to an (assisted) teleconsultation: which text, when, by whom."""

    __tablename__ = "consultation_consents"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    consultation_id: Mapped[str] = mapped_column(
        ForeignKey("consultations.id", ondelete="CASCADE"), index=True
    )
    participant_id: Mapped[str] = mapped_column(
        ForeignKey("consultation_participants.id", ondelete="CASCADE")
    )
    text_version: Mapped[str] = mapped_column(String(60))
    method: Mapped[str] = mapped_column(String(20))
    consented_at: Mapped[int] = mapped_column(BigInteger)
    recorded_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
