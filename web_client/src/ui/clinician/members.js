// Who is in the room, with their role and whether they are online; owners add and remove people.
// Adding someone outside the care team (a family caregiver) first records the patient's consent,
// as the server requires (docs/protocol.md §2.4): the owner says how the patient gave it.
// Every change is signed into the room's membership chain by the E2EE client, so the other
// members' devices accept the new member and share keys with them.
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { html } from "../html.js";
import { errorText, t } from "../../i18n/index.js";

const CARE_TEAM = new Set(["clinician", "admin"]);

function AddMember({ app, room, onDone, onCancel }) {
  const [query, setQuery] = useState("");
  const [found, setFound] = useState(/** @type {object[]|null} */ (null));
  const [chosen, setChosen] = useState(/** @type {object|null} */ (null));
  const [roomRole, setRoomRole] = useState("member");
  const [consent, setConsent] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const input = useRef(null);
  const confirmHeading = useRef(null);

  useLayoutEffect(() => input.current?.focus(), []);
  useLayoutEffect(() => {
    if (chosen) confirmHeading.current?.focus();
  }, [chosen]);

  async function search(event) {
    event.preventDefault();
    setError("");
    try {
      const people = await app.searchPeople(query.trim());
      const members = new Set(room.members.map((m) => m.user_id));
      setFound(people.filter((p) => !members.has(p.user_id)));
    } catch (err) {
      setError(errorText(err.code));
    }
  }

  const needsConsent = chosen && !CARE_TEAM.has(chosen.role) && chosen.user_id !== room.patient_user_id;

  async function confirm(event) {
    event.preventDefault();
    setBusy(true);
    setError("");
    try {
      await app.addMember(room, chosen.user_id, { roomRole, consentMethod: needsConsent ? consent : null });
      onDone(t("members.added", { name: chosen.display_name || chosen.username }));
    } catch (err) {
      setError(err.code === "consent_required" ? t("members.consent_needed") : errorText(err.code));
      setBusy(false);
    }
  }

  if (chosen) {
    const name = chosen.display_name || chosen.username;
    return html`<form class="add-member" onSubmit=${confirm}>
      <h3 tabindex="-1" ref=${confirmHeading}>${t("members.add_who", { name })}</h3>
      ${error && html`<p class="error" role="alert">${error}</p>`}
      ${CARE_TEAM.has(chosen.role) &&
      html`<fieldset>
        <legend>${t("members.room_role")}</legend>
        ${["member", "owner"].map(
          (r) => html`<div class="check">
            <input type="radio" id=${`role-${r}`} name="room_role" value=${r} checked=${roomRole === r} onChange=${() => setRoomRole(r)} />
            <label for=${`role-${r}`}>${t(`room_role.${r}`)}</label>
          </div>`,
        )}
      </fieldset>`}
      ${needsConsent && !room.patient_user_id && html`<p class="hint" id="no-patient">${t("members.no_patient")}</p>`}
      ${needsConsent &&
      room.patient_user_id &&
      html`<fieldset>
        <legend>${t("members.consent_question")}</legend>
        <p class="hint">${t("members.consent_hint")}</p>
        ${["verbal", "written"].map(
          (m) => html`<div class="check">
            <input type="radio" id=${`consent-${m}`} name="consent" value=${m} required checked=${consent === m} onChange=${() => setConsent(m)} />
            <label for=${`consent-${m}`}>${t(`consent.${m}`)}</label>
          </div>`,
        )}
      </fieldset>`}
      <div class="row">
        <button type="submit" class="primary" disabled=${busy || (needsConsent && (!consent || !room.patient_user_id))} aria-describedby=${needsConsent && !room.patient_user_id ? "no-patient" : undefined}>${t("members.add_confirm")}</button>
        <button type="button" onClick=${() => setChosen(null)}>${t("common.back")}</button>
      </div>
    </form>`;
  }

  return html`<form class="add-member" onSubmit=${search} role="search">
    <label for="people-q">${t("members.search")}</label>
    <p class="hint" id="people-hint">${t("members.search_hint")}</p>
    <div class="row">
      <input id="people-q" ref=${input} value=${query} minlength="2" aria-describedby="people-hint" onInput=${(e) => setQuery(e.currentTarget.value)} />
      <button type="submit" disabled=${query.trim().length < 2}>${t("members.search_go")}</button>
      <button type="button" onClick=${onCancel}>${t("common.cancel")}</button>
    </div>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${found &&
    html`<div role="status">${found.length === 0 ? t("members.nobody") : t("members.found", { count: found.length })}</div>
      <ul class="people">
        ${found.map(
          (p) => html`<li key=${p.user_id}>
            <button type="button" onClick=${() => setChosen(p)}>
              ${p.display_name || p.username} <span class="muted">(${p.username}, ${t(`role.${p.role}`)})</span>
            </button>
          </li>`,
        )}
      </ul>`}
  </form>`;
}

/** Whether this device compared safety numbers with a member (or their keys changed since). */
function trustBadge(state) {
  if (state === "verified") return html`<span class="trust verified">${t("verify.badge_verified")}</span>`;
  if (state === "changed") return html`<span class="trust changed">${t("verify.badge_changed")}</span>`;
  return null;
}

/** @param {{app: object, room: object|null, onClose: () => void}} props */
export function Members({ app, room, onClose }) {
  const [online, setOnline] = useState(/** @type {Record<string, boolean>} */ ({}));
  const [, setTrustSeen] = useState(0);
  const [adding, setAdding] = useState(false);
  const [notice, setNotice] = useState("");
  const [error, setError] = useState("");
  const heading = useRef(null);
  const addButton = useRef(null);
  const returnFocus = useRef(false);

  useLayoutEffect(() => heading.current?.focus(), []);
  // When the add form closes, focus goes back to the button that opened it, so a keyboard or
  // screen-reader user is not dropped at the top of the page.
  useLayoutEffect(() => {
    if (!adding && returnFocus.current) addButton.current?.focus();
    returnFocus.current = adding;
  }, [adding]);
  // A colleague verified (here or in another tab of this device) or whose keys changed.
  useEffect(() => app.on("identity", () => setTrustSeen((n) => n + 1)), []);
  useEffect(() => {
    if (!room) return undefined;
    app.presence(room.members.map((m) => m.user_id)).then(setOnline, () => {});
    return app.on("presence", (p) => setOnline((prev) => ({ ...prev, [p.user_id]: p.online })));
  }, [room]);

  if (!room) return html`<p>${t("app.loading")}</p>`;
  const me = room.members.find((m) => m.user_id === app.userId);
  const owner = me?.room_role === "owner";

  async function remove(member) {
    const name = member.display_name || app.nameOf(member.user_id);
    if (!confirm(t("members.remove_confirm", { name }))) return;
    setError("");
    try {
      await app.removeMember(room.room_id, member.user_id);
      setNotice(t("members.removed", { name }));
    } catch (err) {
      setError(errorText(err.code));
    }
  }

  return html`<section aria-labelledby="members-title" class="members">
    <h2 id="members-title" tabindex="-1" ref=${heading}>${t("members.title")}</h2>
    <p role="status">${notice}</p>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <ul>
      ${room.members.map(
        (m) => html`<li key=${m.user_id}>
          <span class=${`dot ${online[m.user_id] ? "on" : "off"}`} aria-hidden="true"></span>
          <span class="name">${m.display_name || app.nameOf(m.user_id)}${m.user_id === app.userId ? ` (${t("message.me")})` : ""}</span>
          <span class="muted">
            ${t(`role.${m.role}`)} · ${t(`room_role.${m.room_role}`)} · ${online[m.user_id] ? t("presence.online") : t("presence.offline")}
          </span>
          ${m.user_id !== app.userId && trustBadge(app.trustOf(m.user_id))}
          ${app.verification &&
          m.user_id !== app.userId &&
          m.role !== "patient" &&
          html`<button type="button" onClick=${() => app.verification(m.user_id)}>${t("verify.open", { name: m.display_name || app.nameOf(m.user_id) })}</button>`}
          ${owner &&
          m.user_id !== app.userId &&
          html`<button type="button" class="danger" onClick=${() => remove(m)}>
            ${t("members.remove", { name: m.display_name || app.nameOf(m.user_id) })}
          </button>`}
        </li>`,
      )}
    </ul>
    ${owner &&
    (adding
      ? html`<${AddMember} app=${app} room=${room} onDone=${(msg) => (setAdding(false), setNotice(msg))} onCancel=${() => setAdding(false)} />`
      : html`<button type="button" ref=${addButton} onClick=${() => setAdding(true)}>${t("members.add")}</button>`)}
    <button type="button" onClick=${onClose}>${t("common.close")}</button>
  </section>`;
}
