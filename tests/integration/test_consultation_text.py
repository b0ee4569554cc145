"""The consultation's text channel, end to end encrypted: the host's client signs the chat room's
chain and signs in those the host admitted (never on the server's word alone), a patient who came
by link (a guest, no account) reads and writes, the server stores only ciphertext, and whoever
leaves is signed out."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from client.consult_text import ConsultationText
from client.e2ee import E2EEClient
from client.sdk import RelaisClient, RelaisError
from crypto.membership import make_event
from server.db.models import MembershipEvent, Message, now_ms
from tests.conftest import Running, make_user, wait_for
from tests.integration.e2ee_world import FAST, Device, unlimited_relais  # noqa: F401

C = "/api/v1/consultations"


async def guest_by_link(relais: Running, host: E2EEClient, cid: str) -> E2EEClient:
    """The patient opens the link: a guest session, its own keys, then the waiting room."""
    link = await host.api.request("POST", f"{C}/{cid}/links", json={"display_name": "Mme R"})
    api = RelaisClient(relais.url)
    g = await api.request("POST", f"{C}/redeem", json={"token": link["token"]})
    api.use_session(g["token"], g["user_id"], g["device_id"])
    guest = E2EEClient(api, policy=FAST)
    await guest.bootstrap()
    await guest.connect()
    assert (await api.call("consult.join", {"consultation_id": cid}))["state"] == "waiting"
    return guest


def signed_members(e: E2EEClient, room: str) -> set[str]:
    state = e.chains.states.get(room)
    return set(state.members) if state is not None else set()


async def test_text_channel_is_encrypted_and_follows_admission(
    relais: Running, device: Device
) -> None:
    doc_u = await make_user(relais, "clinician")
    nurse_u = await make_user(relais, "clinician")
    doc = await device(relais, doc_u)
    nurse = await device(relais, nurse_u)
    made = await doc.api.request("POST", C, json={})
    cid, chat = made["consultation_id"], made["chat_room_id"]
    assert (await doc.api.call("consult.join", {"consultation_id": cid}))["state"] == "admitted"
    host_text = ConsultationText(doc, cid)
    guest: E2EEClient | None = None
    guest_text: ConsultationText | None = None
    nurse_text: ConsultationText | None = None
    try:
        assert await host_text.open() == chat
        # The server made the room; the host's client signed its chain's first event.
        assert signed_members(doc, chat) == {doc_u.user_id}
        # The chain has one start: a second one is not signed.
        assert await doc.sign_room_create(chat) is False

        guest = await guest_by_link(relais, doc, cid)
        pid = (await guest.api.request("GET", f"{C}/{cid}"))["me"]["participant_id"]
        # Waiting: no chat room yet.
        waiting_text = ConsultationText(guest, cid)
        try:
            await waiting_text.open()
            raise AssertionError("a waiting guest opened the chat room")
        except RelaisError as err:
            assert err.code == "not_admitted"
        finally:
            await waiting_text.close()
        # Admitted through the host's client: signed into the chain at once.
        await host_text.admit(pid)
        assert guest.user_id in signed_members(doc, chat)
        guest_text = ConsultationText(guest, cid)
        assert await guest_text.open() == chat

        await host_text.send("Bonjour Mme R, je vous entends mal, écrivez-moi ici.")
        await guest_text.send("J'ai toujours mal au genou droit depuis mardi.")
        conversation = [
            (doc_u.user_id, "Bonjour Mme R, je vous entends mal, écrivez-moi ici."),
            (guest.user_id, "J'ai toujours mal au genou droit depuis mardi."),
        ]
        for side in (host_text, guest_text):
            await wait_for(lambda side=side: side.texts() == conversation, timeout=15)  # type: ignore[misc]

        # A colleague invited later reads the history (shared history, forwarded at the add).
        inv = await doc.api.request(
            "POST", f"{C}/{cid}/participants", json={"user_id": nurse_u.user_id, "role": "observer"}
        )
        assert (await nurse.api.call("consult.join", {"consultation_id": cid}))["state"] == (
            "waiting"
        )
        # Admitted without the host's client (as a server could claim): the server makes them
        # a member, but the host's client signs nobody in on the server's word.
        await doc.api.call(
            "consult.admit", {"consultation_id": cid, "participant_id": inv["participant_id"]}
        )
        await wait_for(lambda: nurse_u.user_id in host_text.unapproved, timeout=15)
        assert nurse_u.user_id not in signed_members(doc, chat)
        # Once the host approves, they are signed in.
        host_text.approve(nurse_u.user_id)
        await wait_for(lambda: nurse_u.user_id in signed_members(doc, chat), timeout=15)
        nurse_text = ConsultationText(nurse, cid)
        await nurse_text.open()
        await nurse.api.sync()
        await wait_for(lambda: nurse_text.texts() == conversation, timeout=15)

        # The server holds ciphertext only, and every chain event is signed by the host.
        async with relais.services.db.read() as conn:
            bodies = (
                (await conn.execute(select(Message.envelope).where(Message.room_id == chat)))
                .scalars()
                .all()
            )
            events = (
                await conn.execute(
                    select(MembershipEvent.action, MembershipEvent.signed_event).where(
                        MembershipEvent.room_id == chat
                    )
                )
            ).all()
        assert len(bodies) == 2
        for body in bodies:
            assert "genou" not in str(body) and "Bonjour" not in str(body)
        signed = [e.action for e in events if e.signed_event is not None]
        assert signed == ["create", "add", "add"], signed

        # The guest leaves: the host's client signs them out; the server drops their membership.
        await guest.api.call("consult.leave", {"consultation_id": cid})
        await wait_for(lambda: guest.user_id not in signed_members(doc, chat), timeout=15)
        try:
            await guest.api.request("GET", f"/api/v1/rooms/{chat}")
            raise AssertionError("a departed guest still reads the chat room")
        except RelaisError as err:
            assert err.code == "not_found"
        await host_text.send("Mme R est partie.")
        await wait_for(
            lambda: [t for _, t in nurse_text.texts()][-1] == "Mme R est partie.",
            timeout=15,
        )
        assert host_text.sync_errors == 0
    finally:
        for t in (host_text, guest_text, nurse_text):
            if t is not None:
                await t.close()
        if guest is not None:
            await guest.close()


async def test_only_the_owner_starts_a_chain(relais: Running, device: Device) -> None:
    doc_u = await make_user(relais, "clinician")
    other_u = await make_user(relais, "clinician")
    doc = await device(relais, doc_u)
    other = await device(relais, other_u)
    made = await doc.api.request("POST", C, json={})
    chat = made["chat_room_id"]

    async def refused(e: E2EEClient, body: dict[str, Any]) -> str:
        try:
            await e.api.request("POST", f"/api/v1/rooms/{chat}/chain", json=body)
        except RelaisError as err:
            return err.code
        raise AssertionError("accepted")

    # Not a member: the room does not exist for them.
    assert await refused(other, {"signed_event": "x"}) == "not_found"
    # Garbage, or an event that is not this room's create by its owner.
    assert await refused(doc, {"signed_event": "x"}) == "validation_failed"
    assert await refused(doc, {}) == "validation_failed"
    assert await doc.sign_room_create(chat) is True
    assert await doc.sign_room_create(chat) is False
    # A second valid create (another of the owner's devices, signing at the same time) does not
    # fork the chain: `conflict`, with the head to sign on.
    assert doc.ik is not None
    second = make_event(
        doc.ik,
        room=chat,
        n=1,
        prev=b"",
        action="create",
        actor=doc_u.user_id,
        target=doc_u.user_id,
        role="owner",
        consent=None,
        history="shared",
        ts=now_ms(),
    )
    assert await refused(doc, {"signed_event": second}) == "conflict"
    assert signed_members(doc, chat) == {doc_u.user_id}
