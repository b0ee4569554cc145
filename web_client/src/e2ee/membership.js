// Room creation and membership changes, each signed by the acting user (docs/crypto.md §5;
// client/e2ee/membership.py). Who receives keys is decided by the signed chain, never by the
// server's word, so every change this device makes is an event signed on the head it verified.
// When another device changed the chain in between, the server refuses the event and it is
// signed again on the new head.
import { ApiError } from "../net/api.js";
import { memberOf } from "./chains.js";
import { eventHash, inbound, makeEvent, randomBytes, signingKey } from "./primitives.js";
import { E2EEError } from "./state.js";

/** Tries at signing on the current head before giving up on a room whose chain keeps moving. */
export const MAX_ATTEMPTS = 5;

function roomIdToken() {
  let bin = "";
  for (const b of randomBytes(16)) bin += String.fromCharCode(b);
  return btoa(bin).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

export class RoomMembership {
  constructor(state, sessions, outbox) {
    this.state = state;
    this.sessions = sessions;
    this.outbox = outbox;
  }

  /** The room id is chosen here because the signed create event must name it. */
  async createRoom(patientUserId, { history = "shared" } = {}) {
    const st = this.state;
    const ik = st.requireIdentity();
    const roomId = "r_" + roomIdToken();
    const create = makeEvent(ik, {
      room: roomId,
      n: 1,
      prev: new Uint8Array(0),
      action: "create",
      actor: st.user_id,
      target: st.user_id,
      role: "owner",
      consent: null,
      history,
      ts: st.clock(),
    });
    let patientEvent = null;
    if (patientUserId != null) {
      await st.directory.ensure([patientUserId]);
      patientEvent = makeEvent(ik, {
        room: roomId,
        n: 2,
        prev: eventHash(create),
        action: "add",
        actor: st.user_id,
        target: patientUserId,
        role: "member",
        consent: null,
        history: "shared",
        ts: st.clock(),
      });
    }
    await st.lock.run(async () => {
      await st.api.createRoom(patientUserId, null, {
        roomId,
        signedEvent: create,
        patientSignedEvent: patientEvent,
      });
      await st.chains.refresh(roomId);
    });
    return roomId;
  }

  /** Start the chain of a room the server made for this user; false when it already has one. */
  async signRoomCreate(roomId, { history = "shared" } = {}) {
    const st = this.state;
    st.requireIdentity();
    return st.lock.run(async () => {
      const chain = await st.chains.get(roomId, { force: true });
      if (!chain) throw new E2EEError("room_frozen", st.chains.frozen.get(roomId) || "unknown");
      if (chain.headN > 0) return false;
      try {
        await this._signChange(roomId, {
          action: "create",
          target: st.user_id,
          role: "owner",
          consent: null,
          history,
          submit: (wire) => st.api.signChainCreate(roomId, wire),
          attempts: 1,
        });
      } catch (err) {
        if (!(err instanceof E2EEError) || err.code !== "conflict") throw err;
        await st.chains.refresh(roomId);
        return false;
      }
      return true;
    });
  }

  /** With shared history the adder forwards its sessions of the room at once (§6.1). */
  async addMember(roomId, userId, { roomRole = "member", consentId = null, history = "shared" } = {}) {
    const st = this.state;
    st.requireIdentity();
    await st.lock.run(async () => {
      await st.directory.ensure([userId], { force: true });
      await this._signChange(roomId, {
        action: "add",
        target: userId,
        role: roomRole,
        consent: consentId,
        history,
        submit: (wire) => st.api.addMember(roomId, userId, { roomRole, consentId, signedEvent: wire }),
      });
      if (history === "shared") {
        const items = [];
        for (const d of st.directory.devicesOf(userId)) {
          for (const sess of this.sessions.ofRoom(roomId)) items.push([userId, d.id, "room_key", inbound.exportBody(sess)]);
        }
        await this.outbox.sendItems(items);
        st.metrics.inc("keys_forwarded", items.length);
      }
    });
  }

  /** Nothing is re-keyed here: this device's next message rotates its session (§6.1). */
  async removeMember(roomId, userId) {
    const st = this.state;
    st.requireIdentity();
    await st.lock.run(async () => {
      const chain = await st.chains.get(roomId);
      if (chain && !memberOf(chain, userId)) {
        // Never signed in: a server-side removal only (a signed remove would freeze the room).
        await st.api.removeMember(roomId, userId);
        return;
      }
      await this._signChange(roomId, {
        action: "remove",
        target: userId,
        role: null,
        consent: null,
        history: null,
        submit: (wire) => st.api.removeMember(roomId, userId, { signedEvent: wire }),
      });
      if (userId === st.user_id) st.outbound.delete(roomId);
    });
  }

  /** Sign the change on the verified head and submit it; when another owner moved the chain
   * first, refresh it and sign again on the new head. Caller holds the lock. */
  async _signChange(roomId, { action, target, role, consent, history, submit, attempts = MAX_ATTEMPTS }) {
    const st = this.state;
    const ik = st.requireIdentity();
    for (let attempt = 0; attempt < attempts; attempt++) {
      const chain = await st.chains.get(roomId, { force: attempt > 0 });
      if (!chain) throw new E2EEError("room_frozen", st.chains.frozen.get(roomId) || "unknown");
      const wire = makeEvent(ik, {
        room: roomId,
        n: chain.headN + 1,
        prev: chain.headN ? chain.headHash : new Uint8Array(0),
        action,
        actor: st.user_id,
        target,
        role,
        consent,
        history,
        ts: st.clock(),
      });
      try {
        await submit(wire);
      } catch (err) {
        if (chainMoved(err)) continue;
        throw err;
      }
      st.chains.adopt(roomId, wire, signingKey.public(ik));
      return;
    }
    throw new E2EEError("conflict", "membership chain kept moving");
  }
}

/** The server refuses an event not signed on its current head: sign again on the new one. */
function chainMoved(err) {
  return err instanceof ApiError && err.code === "conflict" && !!err.details && "expected_n" in err.details;
}
