"""Pairwise messages to other devices: the only channel keys and secrets ever travel on.

Each recipient gets its own envelope, encrypted to keys this device verified (docs/crypto.md §4);
a device the directory cannot vouch for gets nothing. The caller learns which devices' queues
accepted a message, because a key counts as shared only once it is durable there (§6.1).
Each message also carries this user's device-list head (§2.5): the recipient then refuses any
older list of ours the server may serve it.
"""

from __future__ import annotations

from typing import Any

from crypto import pairwise

from .state import DeviceState, UserDevice

TODEVICE_TYPE = "relais.pairwise.v1"
# The server takes at most this many messages per `todevice.send`, and each device once.
BATCH_LIMIT = 100

Item = tuple[str, str, str, dict[str, Any]]  # (user, device, type, body)


class Outbox:
    def __init__(self, state: DeviceState) -> None:
        self.state = state

    async def send(self, targets: list[UserDevice], type_: str, body: dict[str, Any]) -> list[str]:
        """The same body to several devices, each in its own pairwise envelope."""
        return await self.send_items([(u, d, type_, body) for u, d in targets])

    async def send_items(self, items: list[Item]) -> list[str]:
        """Returns the devices whose queue accepted a message. A device without verified keys
        is skipped and counted, so the caller never believes it was reached."""
        st = self.state
        batches: list[list[dict[str, str]]] = []
        for user, device, type_, body in items:
            rcpt = st.directory.recipient(user, device)
            if rcpt is None:
                st.metrics.inc("unreachable_device")
                continue
            payload = pairwise.encrypt(
                sender_user=st.user_id,
                sender_device=st.device_id,
                sender_key=st.dsk,
                recipient=rcpt,
                type=type_,
                body=body,
                ts=st.clock(),
                head=st.directory.head(st.user_id),
            )
            msg = {"device_id": device, "type": TODEVICE_TYPE, "payload": payload}
            for batch in batches:
                if len(batch) < BATCH_LIMIT and all(m["device_id"] != device for m in batch):
                    batch.append(msg)
                    break
            else:
                batches.append([msg])
        stored: list[str] = []
        for batch in batches:
            ack = await st.api.send_to_device(batch)
            refused = set(ack.get("not_found") or [])
            stored.extend(m["device_id"] for m in batch if m["device_id"] not in refused)
        return stored
