// Pairwise messages to other devices (client/e2ee/outbox.py): the only channel keys and secrets
// ever travel on. Each recipient gets its own envelope, encrypted to keys this device verified
// (docs/crypto.md §4); a device the directory cannot vouch for gets nothing. The caller learns
// which devices' queues accepted a message, because a key counts as shared only once it is
// durable there (§6.1). Each message also carries this user's device-list head (§2.5).
import { pairwiseEncrypt } from "./primitives.js";

export const TODEVICE_TYPE = "relais.pairwise.v1";
/** The server takes at most this many messages per `todevice.send`, and each device once. */
export const BATCH_LIMIT = 100;

export class Outbox {
  constructor(state) {
    this.state = state;
  }

  /** The same body to several devices [[user, device], ...], each in its own envelope. */
  async send(targets, type, body) {
    return this.sendItems(targets.map(([u, d]) => [u, d, type, body]));
  }

  /** items: [user, device, type, body]. Returns the devices whose queue accepted a message;
   * a device without verified keys is skipped and counted. */
  async sendItems(items) {
    const st = this.state;
    const batches = [];
    for (const [user, device, type, body] of items) {
      const rcpt = st.directory.recipient(user, device);
      if (rcpt == null) {
        st.metrics.inc("unreachable_device");
        continue;
      }
      const payload = pairwiseEncrypt({
        sender_user: st.user_id,
        sender_device: st.device_id,
        sender_key: st.dsk,
        recipient: rcpt,
        type,
        body,
        ts: st.clock(),
        head: st.directory.head(st.user_id),
      });
      const msg = { device_id: device, type: TODEVICE_TYPE, payload };
      const batch = batches.find((b) => b.length < BATCH_LIMIT && b.every((m) => m.device_id !== device));
      if (batch) batch.push(msg);
      else batches.push([msg]);
    }
    const stored = [];
    for (const batch of batches) {
      const ack = await st.api.sendToDevice(batch);
      const refused = new Set(ack.not_found || []);
      for (const m of batch) if (!refused.has(m.device_id)) stored.push(m.device_id);
    }
    return stored;
  }
}
