// A care room: its timeline (decrypted messages, those waiting for a key, failures, and this
// user's pending sends), who is typing, who read what, the composer, and the members panel.
// New messages from others are announced by the timeline itself (role "log": screen readers
// read additions politely, without moving focus).
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import { html } from "../html.js";
import { errorText, t } from "../../i18n/index.js";
import { Message } from "./message.js";
import { Composer } from "./composer.js";
import { Members } from "./members.js";
import { StartConsultation } from "./consultation.js";

/** @param {{app: import("../../app/client.js").AppClient, roomId: string}} props */
export function RoomView({ app, roomId }) {
  const [items, setItems] = useState(() => app.timeline(roomId));
  const [room, setRoom] = useState(/** @type {object|null} */ (null));
  const [receipts, setReceipts] = useState(/** @type {Record<string, number>} */ ({}));
  const [typing, setTyping] = useState(/** @type {string[]} */ ([]));
  const [panel, setPanel] = useState(/** @type {"members"|"consultation"|null} */ (null));
  const [error, setError] = useState("");
  const heading = useRef(null);
  const bottom = useRef(null);

  useLayoutEffect(() => heading.current?.focus(), [roomId]);
  useEffect(() => {
    setItems(app.timeline(roomId));
    setPanel(null);
    // Offline (a reload shows the room before the socket is up): what the vault holds is shown,
    // and the room's state is fetched again once connected.
    const quiet = (err) => ["offline", "not_connected"].includes(err?.code);
    const refreshRoom = () =>
      app
        .room(roomId)
        .then((state) => (setRoom(state), setError("")))
        .catch((err) => !quiet(err) && setError(errorText(err.code)));
    const refreshReceipts = () =>
      app
        .receipts(roomId)
        .then(setReceipts)
        .catch(() => {});
    if (app.connected) {
      refreshRoom();
      refreshReceipts();
    }
    const typers = new Map();
    const offs = [
      app.on("timeline", (changed) => changed === roomId && setItems(app.timeline(roomId))),
      app.on("names", () => setItems(app.timeline(roomId))),
      // (Re)connected: the sync has brought what was missed; the timeline, the members and the
      // receipts are read again.
      app.on("connection", (up) => {
        if (!up) return;
        setItems(app.timeline(roomId));
        refreshRoom();
        refreshReceipts();
      }),
      app.on("room", (changed) => changed === roomId && refreshRoom()),
      app.on("receipt", (r) => r.room_id === roomId && setReceipts((prev) => ({ ...prev, [r.user_id]: Math.max(prev[r.user_id] || 0, r.seq) }))),
      app.on("typing", (ev) => {
        if (ev.room_id !== roomId) return;
        clearTimeout(typers.get(ev.user_id));
        if (ev.typing) typers.set(ev.user_id, setTimeout(() => (typers.delete(ev.user_id), setTyping([...typers.keys()])), 8000));
        else typers.delete(ev.user_id);
        setTyping([...typers.keys()]);
      }),
    ];
    return () => {
      offs.forEach((off) => off());
      typers.forEach((timer) => clearTimeout(timer));
    };
  }, [roomId]);

  // Read up to the last message shown, while the page is in front of the user.
  const lastSeq = items.reduce((m, it) => (it.seq && it.seq > m ? it.seq : m), 0);
  useEffect(() => {
    bottom.current?.scrollIntoView({ block: "end" });
    if (lastSeq > 0 && document.visibilityState === "visible") app.markRead(roomId, lastSeq);
  }, [lastSeq, items.length]);

  const readersOf = useMemo(() => {
    // Only under the last of my own messages each person has read: one line, not one per message.
    const mine = items.filter((it) => it.seq && it.sender_user === app.userId);
    const out = new Map();
    for (const [user, seq] of Object.entries(receipts)) {
      if (user === app.userId) continue;
      const last = [...mine].reverse().find((it) => it.seq <= seq);
      if (last) out.set(last.id, [...(out.get(last.id) || []), app.nameOf(user)]);
    }
    return out;
  }, [items, receipts]);

  const title = room ? app.roomTitle(room) : app.titleOf(roomId) || t("app.loading");
  return html`
    <section class="room" aria-labelledby="room-title">
      <header class="room-head">
        <h1 id="room-title" tabindex="-1" ref=${heading}>${title}</h1>
        <div class="room-actions">
          <button type="button" aria-expanded=${panel === "members"} aria-controls="room-panel" onClick=${() => setPanel(panel === "members" ? null : "members")}>
            ${t("members.title")}${room ? ` (${room.members.length})` : ""}
          </button>
          ${app.canConsult &&
          html`<button type="button" class="primary" aria-expanded=${panel === "consultation"} aria-controls="room-panel" onClick=${() => setPanel(panel === "consultation" ? null : "consultation")}>
            ${t("consult.start")}
          </button>`}
          ${app.canConsult && html`<a class="button-like" href=${`#/rooms/${encodeURIComponent(roomId)}/consultations`}>${t("consult.all_open")}</a>`}
        </div>
      </header>
      ${error && html`<p class="error" role="alert">${error}</p>`}
      ${panel &&
      html`<div id="room-panel" class="panel">
        ${panel === "members" ? html`<${Members} app=${app} room=${room} onClose=${() => setPanel(null)} />` : html`<${StartConsultation} app=${app} roomId=${roomId} onClose=${() => setPanel(null)} />`}
      </div>`}
      <div class="timeline" role="log" aria-label=${t("room.messages")} aria-live="polite" aria-relevant="additions">
        ${items.length === 0 && html`<p class="empty">${t("room.empty")}</p>`}
        <ol>
          ${items.map((item) => html`<${Message} key=${item.id} item=${item} app=${app} mine=${item.sender_user === app.userId} readers=${readersOf.get(item.id) || []} />`)}
        </ol>
      </div>
      <div ref=${bottom}></div>
      <p class="typing" role="status">${typing.length ? t("room.typing", { names: typing.map((u) => app.nameOf(u)).join(", ") }) : ""}</p>
      <${Composer} app=${app} roomId=${roomId} />
    </section>
  `;
}
