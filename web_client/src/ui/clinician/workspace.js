// The clinician workspace: a header (who is signed in, language, devices, the ways out), the
// care rooms with unread counts and last activity, and the open room. The address is the
// fragment (#/rooms/<id>, #/rooms/<id>/consultations[/<id>], #/consultations[/<id>] for assisted
// ones, #/devices, #/verify/<user>), so the back button and a reload keep the
// place without the server ever seeing it.
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { html } from "../html.js";
import { errorText, formatTime, language, LANGUAGES, t } from "../../i18n/index.js";
import { RoomView } from "./room.js";
import { Devices } from "./devices.js";
import { Verify } from "./verify.js";
import { ConsultationList, ConsultationScreen } from "./consult_screen.js";

function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/");
  if (parts[0] === "rooms" && parts[1] && parts[2] === "consultations") {
    const room = decodeURIComponent(parts[1]);
    if (parts[3]) return { view: "consultation", id: room, consultation: decodeURIComponent(parts[3]) };
    return { view: "consultations", id: room };
  }
  // Assisted consultations (health bus) have no care room: their own list and screens.
  if (parts[0] === "consultations") {
    if (parts[1]) return { view: "consultation", id: null, consultation: decodeURIComponent(parts[1]) };
    return { view: "consultations", id: null };
  }
  if (parts[0] === "rooms" && parts[1]) return { view: "room", id: decodeURIComponent(parts[1]) };
  if (parts[0] === "devices") return { view: "devices" };
  if (parts[0] === "verify" && parts[1]) return { view: "verify", id: decodeURIComponent(parts[1]) };
  return { view: "home" };
}

function NewRoom({ app, onDone }) {
  const [title, setTitle] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const input = useRef(null);
  useLayoutEffect(() => input.current?.focus(), []);

  async function create(event) {
    event.preventDefault();
    setBusy(true);
    setError("");
    try {
      const roomId = await app.createRoom(title.trim());
      onDone(roomId);
    } catch (err) {
      setError(errorText(err.code));
      setBusy(false);
    }
  }

  return html`<form class="new-room" onSubmit=${create}>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <label for="new-room-title">${t("rooms.new_title")}</label>
    <p class="hint" id="new-room-hint">${t("rooms.new_hint")}</p>
    <input id="new-room-title" ref=${input} maxlength="200" required aria-describedby="new-room-hint" value=${title} onInput=${(e) => setTitle(e.currentTarget.value)} />
    <div class="row">
      <button type="submit" class="primary" disabled=${busy || !title.trim()}>${t("rooms.create")}</button>
      <button type="button" onClick=${() => onDone(null)}>${t("common.cancel")}</button>
    </div>
  </form>`;
}

/**
 * @param {{app: import("../../app/client.js").AppClient, onSignOut: () => void,
 *          onForget: () => void, onLanguage: (lang: string) => void}} props
 */
export function Workspace({ app, onSignOut, onForget, onLanguage }) {
  const [rooms, setRooms] = useState(/** @type {object[]|null} */ (null));
  const [connected, setConnected] = useState(app.connected);
  const [invitedNotice, setInvitedNotice] = useState(false);
  const [where, setWhere] = useState(route());
  const [creating, setCreating] = useState(false);
  const [error, setError] = useState("");

  useEffect(() => {
    const onHash = () => setWhere(route());
    addEventListener("hashchange", onHash);
    return () => removeEventListener("hashchange", onHash);
  }, []);

  useEffect(() => {
    let pending = null;
    const refresh = () => {
      // Bursts of events (a sync page) cost one room.list.
      if (pending) return;
      pending = setTimeout(async () => {
        pending = null;
        try {
          const list = await app.listRooms();
          list.sort((a, b) => b.last_activity_at - a.last_activity_at);
          setRooms(list);
          setError("");
        } catch (err) {
          if (err.code !== "offline" && err.code !== "not_connected") setError(errorText(err.code));
        }
      }, 150);
    };
    const offs = [
      app.on("rooms", refresh),
      app.on("connection", setConnected),
      // Another host invited this user: said once, with the way to the invitation.
      app.on("consult", (event) => event === "consult.invited" && setInvitedNotice(true)),
    ];
    refresh();
    return () => {
      offs.forEach((off) => off());
      clearTimeout(pending);
    };
  }, [app]);

  app.verification = (userId) => (location.hash = `#/verify/${encodeURIComponent(userId)}`);
  const me = app.session.record;
  let main;
  if (where.view === "room") main = html`<${RoomView} app=${app} roomId=${where.id} />`;
  else if (where.view === "consultation") main = html`<${ConsultationScreen} app=${app} roomId=${where.id} consultationId=${where.consultation} />`;
  else if (where.view === "consultations") main = html`<${ConsultationList} app=${app} roomId=${where.id} />`;
  else if (where.view === "devices") main = html`<${Devices} app=${app} />`;
  else if (where.view === "verify") main = html`<${Verify} app=${app} userId=${where.id} onClose=${() => history.back()} />`;
  else main = html`<h1 tabindex="-1">${t("workspace.welcome")}</h1><p>${t("workspace.pick_room")}</p>`;

  return html`
    <a class="skip" href="#main" onClick=${(e) => (e.preventDefault(), document.getElementById("main")?.focus())}>${t("app.skip")}</a>
    <header class="bar">
      <span class="brand">${t("app.name")}</span>
      <span class="status" role="status">${connected ? "" : t("workspace.offline")}</span>
      <span class="who">${t("workspace.signed_in_as", { name: me.display_name || me.username })}</span>
      <label class="lang">
        <span>${t("lang.label")}</span>
        <select value=${language()} onChange=${(e) => onLanguage(e.currentTarget.value)}>
          ${LANGUAGES.map((l) => html`<option value=${l}>${t(`lang.${l}`)}</option>`)}
        </select>
      </label>
      <a class="button-like" href="#/devices">${t("workspace.devices")}</a>
      <button type="button" onClick=${onSignOut}>${t("workspace.sign_out")}</button>
      <button type="button" class="danger" onClick=${onForget}>${t("workspace.forget")}</button>
    </header>
    <div class="workspace">
      <nav aria-labelledby="rooms-title" class="rooms">
        <h2 id="rooms-title">${t("rooms.title")}</h2>
        ${app.canConsult &&
        html`<p><a href="#/consultations" aria-current=${where.view === "consultations" && where.id === null ? "page" : undefined}>${t("consult.assisted_queue")}</a></p>`}
        ${app.canConsult &&
        html`<p role="status">${invitedNotice && html`<a href="#/consultations" onClick=${() => setInvitedNotice(false)}>${t("consult.invited_notice")}</a>`}</p>`}
        ${app.canConsult &&
        (creating
          ? html`<${NewRoom} app=${app} onDone=${(id) => (setCreating(false), id && (location.hash = `#/rooms/${id}`))} />`
          : html`<button type="button" onClick=${() => setCreating(true)}>${t("workspace.new_room")}</button>`)}
        ${error && html`<p class="error" role="alert">${error}</p>`}
        ${rooms === null
          ? html`<p>${t("app.loading")}</p>`
          : rooms.length === 0
            ? html`<p>${t("rooms.empty")}</p>`
            : html`<ul>
                ${rooms.map(
                  (room) => html`<li key=${room.room_id}>
                    <a href=${`#/rooms/${room.room_id}`} aria-current=${where.view === "room" && where.id === room.room_id ? "page" : undefined}>
                      <span class="room-name">${room.title || t("rooms.untitled", { id: room.room_id.slice(2, 8) })}</span>
                      ${room.unread > 0 && html`<span class="badge"><span aria-hidden="true">${room.unread}</span><span class="visually-hidden">${t("rooms.unread", { count: room.unread })}</span></span>`}
                      <span class="when">${t("rooms.last_activity", { when: formatTime(room.last_activity_at) })}</span>
                    </a>
                  </li>`,
                )}
              </ul>`}
      </nav>
      <main id="main" tabindex="-1">${main}</main>
    </div>
  `;
}
