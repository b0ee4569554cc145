// The patient's end-to-end encrypted text, loaded on demand (`import("./text.js")`): the E2EE
// code is most of its weight, and the way into the waiting room must stay light (WEB.md). The
// page loads it once the waiting room is up and the link check has measured, so it neither
// delays the patient nor skews the measurement.
//
// The guest is a device like any other (docs/crypto.md): its identity key is made in the waiting
// room, so it is published before the clinician admits the patient and the host's client can sign
// it into the chat room at once. Its state lives in sessionStorage beside the guest session
// (./guest.js): a reload keeps its keys; closing the tab or the end of the consultation wipes them
// (`forget()`, which clears every `relais.join.*` entry).
import { ConsultationText } from "../e2ee/consult_text.js";
import { E2EEClient } from "../e2ee/client.js";
import { RelaisClient } from "../net/sdk.js";

export { TextChannel } from "../call/text_channel.js";

const STATE_KEY = "relais.join.e2ee";

// sessionStorage holds strings; the device state is a plain object whose only non-JSON values
// are byte arrays (e2ee/client.js, "Persistence"), tagged here so they come back as bytes.
function encode(value) {
  return JSON.stringify(value, (_key, v) => (v instanceof Uint8Array ? { $b: btoa(String.fromCharCode(...v)) } : v));
}

function decode(text) {
  return JSON.parse(text, (_key, v) =>
    v && typeof v === "object" && typeof v.$b === "string" ? Uint8Array.from(atob(v.$b), (c) => c.charCodeAt(0)) : v,
  );
}

/** The E2EE storage interface over sessionStorage, one entry per record name. Once `wiped`, or
 * once the page says the tab keeps nothing more (`keeping()` false: the consultation ended, maybe
 * while the keys were still being made), it writes nothing: no save may bring keys back. */
function tabStorage(keeping) {
  return {
    wiped: false,
    async load(name) {
      try {
        const text = sessionStorage.getItem(`${STATE_KEY}.${name}`);
        return text ? decode(text) : null;
      } catch {
        return null; // unreadable or blocked: a fresh device (a reload then loses the texts' keys)
      }
    },
    async save(name, value) {
      if (this.wiped || !keeping()) return;
      try {
        sessionStorage.setItem(`${STATE_KEY}.${name}`, encode(value));
      } catch {
        // blocked or full: kept in memory for this page
      }
    },
    async delete(name) {
      try {
        sessionStorage.removeItem(`${STATE_KEY}.${name}`);
      } catch {
        // nothing kept
      }
    },
  };
}

/**
 * The guest's device over the page's socket: keys made (first time) or reloaded, connected, synced.
 * @param {import("../net/socket.js").Socket} socket
 * @param {{token: string, user_id: string, device_id: string, consultation_id: string}} guest
 * @param {() => boolean} [keeping] false once the tab must keep nothing (the consultation ended)
 */
export async function prepareText(socket, guest, keeping = () => true) {
  const api = new RelaisClient(location.origin);
  api.useSession(guest.token, guest.user_id, guest.device_id);
  const storage = tabStorage(keeping);
  const e2ee = await E2EEClient.open(api, { storage });
  if (!e2ee.hasIdentity) await e2ee.bootstrap();
  await e2ee.connect({ socket });
  const channel = new ConsultationText(e2ee, guest.consultation_id);
  // Names of those who join later (a second clinician, an interpreter).
  const off = api.on("event", (event, data) => {
    if (event === "consult.participants" && data?.consultation_id === guest.consultation_id && channel.chatRoomId)
      channel.refresh().catch(() => {});
  });
  return {
    channel,
    /** Once admitted: learn the chat room (the clinician's client signs this device in). */
    async open() {
      if (!channel.chatRoomId) await channel.open();
      return channel;
    },
    /** Leave (the socket is closing); `wipe` when the consultation is over for this tab: the
     * page's `forget()` (./guest.js) clears the stored keys, and nothing is written back. */
    async close(wipe = false) {
      off();
      channel.close();
      if (wipe) storage.wiped = true;
      await e2ee.close();
    },
  };
}
