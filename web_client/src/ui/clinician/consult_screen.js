// The host's consultation screen: who waits, admitted or refused from here, who is in, whether
// they are connected, their call mode and link, the call itself once someone is admitted
// (./call_panel.js), and the end of the consultation, confirmed once. The host
// sends `consult.join` on arrival and after every reconnection (the host is admitted at once, and
// only admitted participants get `consult.participants`); the server sends `consult.waiting` to
// the host after every change. Arrivals in the waiting room are announced (role "status").
// The consultation's encrypted messages (../../call/text_channel.js) sit beside the call: this
// client, the host's, signs the chat room's chain and signs in only those admitted from here
// (e2ee/consult_text.js); someone the server lists as admitted from elsewhere waits for an explicit
// "let in".
// Address: #/rooms/<room>/consultations/<id>; #/rooms/<room>/consultations lists the open ones.
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { html } from "../html.js";
import { errorText, formatTime, t } from "../../i18n/index.js";
import { CallPanel, ModeSwitch, ParticipantMedia, useCallLeg } from "./call_panel.js";
import { ConsultationText } from "../../e2ee/consult_text.js";
import { TextChannel } from "../../call/text_channel.js";

const quiet = (err) => ["offline", "not_connected"].includes(err?.code);

function ParticipantLine({ p, leg, me, isHost = true }) {
  const mine = p.user_id === me;
  const state = p.state === "admitted" ? (p.present ? t("consult.present") : t("consult.absent")) : t(`consult.state_${p.state}`);
  return html`<li>
    <span class="who">${p.display_name || t("people.unknown")}</span>
    <span class="role"> · ${t(`consult.role_${p.role}`)}</span>
    <span class="state"> · ${state}</span>
    ${p.state === "admitted" && html`<${ParticipantMedia} leg=${leg} participantId=${p.participant_id} />`}
    ${p.state === "admitted" &&
    leg &&
    (p.present || mine) &&
    (isHost || mine) &&
    html`<${ModeSwitch}
      leg=${leg}
      participantId=${p.participant_id}
      label=${mine ? t("consult.mode_choice_mine") : t("consult.mode_choice_label", { name: p.display_name || t("people.unknown") })}
    />`}
  </li>`;
}

export function ConsultationScreen({ app, roomId, consultationId }) {
  const [status, setStatus] = useState(/** @type {string|null} */ (null));
  const [waiting, setWaiting] = useState(/** @type {object[]} */ ([]));
  const [participants, setParticipants] = useState(/** @type {object[]} */ ([]));
  const [announce, setAnnounce] = useState("");
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const heading = useRef(null);
  const confirmButton = useRef(null);
  const endButton = useRef(null);
  const known = useRef(/** @type {Set<string>|null} */ (null));
  const waitingHeading = useRef(null);
  // Where the focus goes after an action removed the control that had it: "waiting" (someone
  // admitted or refused), "end" (the confirmation cancelled), "heading" (the consultation ended).
  const [focusTo, setFocusTo] = useState(/** @type {string|null} */ (null));
  const [text, setText] = useState(/** @type {ConsultationText|null} */ (null));
  const [unapproved, setUnapproved] = useState(/** @type {string[]} */ ([]));
  const [summary, setSummary] = useState("");
  // This user's own participant row ({participant_id, role, state}): the host, or a colleague
  // the host invited (a clinician taking part, e.g. a remote specialist), who waits to be let in.
  const [me, setMe] = useState(/** @type {any} */ (null));
  const meRef = useRef(/** @type {any} */ (null));
  meRef.current = me;

  /** New waiting list: arrivals (ids not seen waiting before) are announced. */
  function showWaiting(list) {
    const seen = known.current;
    const fresh = seen ? list.filter((p) => !seen.has(p.participant_id)) : [];
    known.current = new Set(list.map((p) => p.participant_id));
    if (fresh.length) setAnnounce(t("consult.arrived", { name: fresh.map((p) => p.display_name || t("people.unknown")).join(", ") }));
    setWaiting(list);
  }

  useLayoutEffect(() => heading.current?.focus(), [consultationId]);
  useLayoutEffect(() => {
    if (confirming) confirmButton.current?.focus();
  }, [confirming]);
  useLayoutEffect(() => {
    if (!focusTo) return;
    ({ waiting: waitingHeading, end: endButton, heading })[focusTo]?.current?.focus();
    setFocusTo(null);
  }, [focusTo]);

  // The text channel lives as long as this screen shows this consultation.
  useEffect(() => {
    const channel = new ConsultationText(app.e2ee, consultationId);
    let gone = false;
    let timer = null;
    setText(null);
    setUnapproved([]);
    const off = channel.on("unapproved", (ids) => setUnapproved(ids));
    const open = async () => {
      if (gone || !app.connected) return;
      try {
        await channel.open();
        if (!gone) setText(channel);
      } catch (err) {
        // Not open yet (the join is under way) or offline: again in a moment, or at reconnection.
        if (!gone && err?.code !== "consultation_ended") timer = setTimeout(open, 3000);
      }
    };
    const offConn = app.on("connection", (up) => up && (channel.chatRoomId ? channel.wantSync() : open()));
    timer = setTimeout(open, 0);
    return () => {
      gone = true;
      clearTimeout(timer);
      off();
      offConn();
      channel.close();
    };
  }, [consultationId]);

  useEffect(() => {
    let gone = false;
    known.current = null;
    setStatus(null);
    setSummary("");
    setMe(null);
    setWaiting([]);
    setParticipants([]);
    setAnnounce("");
    setConfirming(false);
    setError("");
    const load = async () => {
      try {
        const first = await app.consultation(consultationId);
        if (gone) return;
        if (first.status === "open") await app.joinConsultation(consultationId);
        const state = first.status === "open" ? await app.consultation(consultationId) : first;
        if (gone) return;
        setStatus(state.status);
        setMe(state.me || null);
        setParticipants(state.participants || []);
        showWaiting(state.waiting || []);
        setError("");
      } catch (err) {
        if (gone) return;
        if (err.code === "consultation_ended") setStatus("ended");
        else if (!quiet(err)) setError(errorText(err.code));
      }
    };
    if (app.connected) load();
    const offs = [
      app.on("connection", (up) => up && load()),
      app.on("consult", (event, data) => {
        if (data?.consultation_id !== consultationId) return;
        if (event === "consult.waiting") showWaiting(data.waiting || []);
        else if (event === "consult.participants") setParticipants(data.participants || []);
        else if (event === "consult.state") {
          // A colleague's own admission, refusal or sending away. Only a change reloads: every
          // consult.join (this screen's own, at each load) is answered with the state again.
          const was = meRef.current?.state;
          setMe((m) => (m ? { ...m, state: data.state } : m));
          if (data.state === "admitted" && was && was !== "admitted") load();
        }
        else if (event === "consult.ended") {
          setStatus("ended");
          setWaiting([]);
        }
      }),
    ];
    return () => {
      gone = true;
      offs.forEach((off) => off());
    };
  }, [consultationId]);

  async function act(fn, then) {
    setBusy(true);
    setError("");
    try {
      await fn();
      setFocusTo(then);
    } catch (err) {
      setError(errorText(err.code));
    } finally {
      setBusy(false);
    }
  }

  // Through the text channel when it is open, so the admitted are signed into its chain at once.
  const admit = (p) => act(() => (text ? text.admit(p.participant_id) : app.admit(consultationId, p.participant_id)), "waiting");
  const nameOf = (userId) => text?.names.get(userId) || app.nameOf(userId);
  const deny = (p) => act(() => app.deny(consultationId, p.participant_id), "waiting");
  const end = () =>
    act(async () => {
      await app.endConsultation(consultationId);
      setConfirming(false);
      setStatus("ended");
      setWaiting([]);
      // The summary goes to the care room the consultation came from (an assisted one has none).
      if (roomId) {
        try {
          await app.postConsultationSummary(consultationId, roomId);
          setSummary(t("consult.summary_posted"));
        } catch {
          setSummary(t("consult.summary_failed"));
        }
      }
    }, "heading");

  const ended = status === "ended";
  const isHost = !me || me.role === "host";
  const inside = isHost || me?.state === "admitted";
  // The call starts once someone besides the host is admitted, and then lasts as long as the
  // consultation is open here (a patient's dropped connection does not hang up the host).
  const guestIn = participants.some((p) => p.role !== "host" && p.state === "admitted");
  const [callLive, setCallLive] = useState(false);
  useEffect(() => {
    if (status === "open" && (isHost ? guestIn : inside)) setCallLive(true);
    else if (status !== "open" || !inside) setCallLive(false);
  }, [status, guestIn, isHost, inside]);
  useEffect(() => setCallLive(false), [consultationId]);
  const leg = useCallLeg(app, consultationId, callLive);
  const patient =
    participants.find((p) => p.role === "patient") || participants.find((p) => p.user_id !== app.userId);
  const leave = () =>
    act(async () => {
      await app.leaveConsultation(consultationId);
      location.hash = listHref(roomId);
    }, null);
  return html`<section class="consultation" aria-labelledby="consultation-title">
    <h1 id="consultation-title" tabindex="-1" ref=${heading}>${t("consult.screen_title")}</h1>
    <p><a href=${listHref(roomId)}>${roomId ? t("consult.all_open") : t("consult.assisted_queue")}</a>${roomId && html` · <a href=${`#/rooms/${encodeURIComponent(roomId)}`}>${t("consult.back_room")}</a>`}</p>
    <p class="status" role="status">${ended ? summary || t("consult.ended") : announce}</p>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${status === null && !error && html`<p>${t("app.loading")}</p>`}
    ${status === "open" &&
    !inside &&
    html`<section aria-labelledby="colleague-waiting-title">
      <h2 id="colleague-waiting-title">${t("consult.colleague_waiting_title")}</h2>
      <p role="status">${me?.state === "denied" ? t("consult.colleague_denied") : t("consult.colleague_waiting")}</p>
      <button type="button" onClick=${leave}>${t("consult.leave")}</button>
    </section>`}
    ${status === "open" &&
    inside &&
    html`
      ${isHost &&
      html`<section aria-labelledby="waiting-title">
        <h2 id="waiting-title" tabindex="-1" ref=${waitingHeading}>${t("consult.waiting_title")}</h2>
        ${waiting.length === 0
          ? html`<p>${t("consult.waiting_empty")}</p>`
          : html`<ul class="waiting">
              ${waiting.map(
                (p) => html`<li key=${p.participant_id}>
                  <span class="who">${p.display_name || t("people.unknown")}</span>
                  <span class="role"> · ${t(`consult.role_${p.role}`)}</span>
                  <span class="row">
                    <button type="button" class="primary" disabled=${busy} aria-label=${t("consult.admit_who", { name: p.display_name })} onClick=${() => admit(p)}>${t("consult.admit")}</button>
                    <button type="button" disabled=${busy} aria-label=${t("consult.deny_who", { name: p.display_name })} onClick=${() => deny(p)}>${t("consult.deny")}</button>
                  </span>
                </li>`,
              )}
            </ul>`}
      </section>`}
      ${leg && html`<${CallPanel} leg=${leg} patientName=${patient?.display_name} names=${new Map(participants.map((p) => [p.participant_id, p.display_name]))} />`}
      ${unapproved.length > 0 &&
      html`<section aria-labelledby="unapproved-title">
        <h2 id="unapproved-title">${t("text.unapproved_title")}</h2>
        <p>${t("text.unapproved_intro")}</p>
        <ul>
          ${unapproved.map(
            (id) => html`<li key=${id}><button type="button" onClick=${() => text?.approve(id)}>${t("text.approve", { name: nameOf(id) })}</button></li>`,
          )}
        </ul>
      </section>`}
      <${TextChannel} text=${text} nameOf=${nameOf} />
      <section aria-labelledby="participants-title">
        <h2 id="participants-title">${t("consult.participants_title")}</h2>
        <ul class="participants">
          ${participants.map((p) => html`<${ParticipantLine} key=${p.participant_id} p=${p} leg=${leg} me=${app.userId} isHost=${isHost} />`)}
        </ul>
      </section>
      ${isHost && html`<${InviteColleague} app=${app} consultationId=${consultationId} participants=${participants} />`}
      ${!isHost
        ? html`<button type="button" onClick=${leave}>${t("consult.leave")}</button>`
        : confirming
        ? html`<div class="confirm" role="group" aria-labelledby="end-question">
            <p id="end-question">${t("consult.end_confirm")}</p>
            <div class="row">
              <button type="button" class="danger" ref=${confirmButton} disabled=${busy} onClick=${end}>${t("consult.end_yes")}</button>
              <button type="button" onClick=${() => (setConfirming(false), setFocusTo("end"))}>${t("common.cancel")}</button>
            </div>
          </div>`
        : html`<button type="button" class="danger" ref=${endButton} onClick=${() => setConfirming(true)}>${t("consult.end")}</button>`}
    `}
  </section>`;
}

/** A care room's open consultations, or (roomId null) the assisted ones, which have no room. */
function listHref(roomId) {
  return roomId ? `#/rooms/${encodeURIComponent(roomId)}/consultations` : "#/consultations";
}

export function ConsultationList({ app, roomId }) {
  const [list, setList] = useState(/** @type {object[]|null} */ (null));
  const [invited, setInvited] = useState(/** @type {object[]} */ ([]));
  const [error, setError] = useState("");
  const heading = useRef(null);
  useLayoutEffect(() => heading.current?.focus(), [roomId]);
  useEffect(() => {
    const load = () =>
      app
        .openConsultations(roomId)
        .then((l) => (setList(l), setError("")))
        .catch((err) => !quiet(err) && setError(errorText(err.code)));
    // Without a room: also the consultations other hosts invited this user to.
    const loadInvited = () =>
      roomId ? Promise.resolve() : app.invitations().then(setInvited).catch(() => {});
    if (app.connected) (load(), loadInvited());
    const offs = [
      app.on("connection", (up) => up && (load(), loadInvited())),
      app.on("consult", (event) => event === "consult.invited" && loadInvited()),
    ];
    return () => offs.forEach((off) => off());
  }, [roomId]);
  return html`<section aria-labelledby="consultations-title">
    <h1 id="consultations-title" tabindex="-1" ref=${heading}>${roomId ? t("consult.list_title") : t("consult.assisted_queue")}</h1>
    ${roomId && html`<p><a href=${`#/rooms/${encodeURIComponent(roomId)}`}>${t("consult.back_room")}</a></p>`}
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${list === null
      ? !error && html`<p>${t("app.loading")}</p>`
      : list.length === 0
        ? html`<p>${t("consult.list_empty")}</p>`
        : html`<ul class="consultations">
            ${list.map(
              (c) => html`<li key=${c.consultation_id}>
                <a href=${`${listHref(roomId)}/${encodeURIComponent(c.consultation_id)}`}>
                  ${t("consult.opened_at", { when: formatTime(c.created_at) })}${c.assisted_by ? ` · ${t("consult.assisted_by", { name: c.assisted_by.display_name })}` : ""}${c.waiting ? ` · ${t("consult.waiting_count", { count: c.waiting })}` : ""}
                </a>
              </li>`,
            )}
          </ul>`}
    ${!roomId &&
    invited.length > 0 &&
    html`<section aria-labelledby="invitations-title">
      <h2 id="invitations-title">${t("consult.invitations_title")}</h2>
      <ul class="consultations">
        ${invited.map(
          (c) => html`<li key=${c.consultation_id}>
            <a href=${`#/consultations/${encodeURIComponent(c.consultation_id)}`}>
              ${t("consult.invitation_from", { name: app.nameOf(c.host_user_id), when: formatTime(c.created_at) })}
            </a>
          </li>`,
        )}
      </ul>
    </section>`}
  </section>`;
}

/** The host invites a colleague (a clinician account) to take part: a remote specialist joining a
 * local consultation. They are told (`consult.invited`), find it among their invitations, and
 * wait to be let in like anyone else. */
function InviteColleague({ app, consultationId, participants }) {
  const [q, setQ] = useState("");
  const [found, setFound] = useState(/** @type {object[]} */ ([]));
  const [said, setSaid] = useState("");
  const [error, setError] = useState("");
  useEffect(() => {
    if (q.trim().length < 2) {
      setFound([]);
      return undefined;
    }
    let gone = false;
    const timer = setTimeout(() => {
      app
        .findClinicians(q.trim())
        .then((people) => !gone && setFound(people.filter((u) => u.user_id !== app.userId)))
        .catch((err) => !gone && setError(errorText(err.code)));
    }, 250);
    return () => {
      gone = true;
      clearTimeout(timer);
    };
  }, [q]);
  const taking = new Set(participants.map((p) => p.user_id));
  async function invite(person) {
    setError("");
    try {
      await app.inviteColleague(consultationId, person.user_id);
      setSaid(t("consult.invited_colleague", { name: person.display_name || person.username }));
      setQ("");
    } catch (err) {
      setError(errorText(err.code));
    }
  }
  return html`<section aria-labelledby="invite-title">
    <h2 id="invite-title">${t("consult.invite_title")}</h2>
    <p role="status">${said}</p>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <label for="invite-q">${t("consult.invite_search")}</label>
    <input id="invite-q" type="search" autocomplete="off" value=${q} onInput=${(e) => setQ(e.currentTarget.value)} />
    ${found.length > 0 &&
    html`<ul class="people">
      ${found.map(
        (person) => html`<li key=${person.user_id}>
          <button type="button" disabled=${taking.has(person.user_id)} onClick=${() => invite(person)}>
            ${t("consult.invite_who", { name: person.display_name || person.username })}
          </button>
        </li>`,
      )}
    </ul>`}
  </section>`;
}
