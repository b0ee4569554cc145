// The patient's join page, served at /consult/<token> (the link the clinician hands out): the
// code when the link has one, the consent to join, the waiting room until the clinician admits
// them, then the call (./call.js). Its own entry: it loads none of the clinician workspace (no vault, no E2EE), so
// the page stays far under the patient budget (WEB.md: ≤ 250 KB up to the waiting room).
import "./join.css";
import { render } from "preact";
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { html } from "../ui/html.js";
import { errorText, initialLanguage, setLanguage, t } from "../i18n/index.js";
import { Api } from "../net/api.js";
import { Socket } from "../net/socket.js";
import { forget, loadGuest, saveGuest, takeLink } from "./guest.js";
import { CallScreen } from "./call.js";
import { LinkCheck } from "./link_check.js";
import { DeviceCheck, deviceHolder } from "./device_check.js";

/** The version of the consent text this page shows (join.consent_*): recorded with the consent.
 * A change of those words is a new version. */
const CONSENT_VERSION = "join-v1";

const TITLES = {
  loading: "join.loading_title",
  nolink: "join.nolink_title",
  invalid: "join.invalid_title",
  code: "join.code_title",
  consent: "join.consent_title",
  waiting: "join.waiting_title",
  admitted: "join.admitted_title",
  left: "call.left_title",
  denied: "join.denied_title",
  ended: "join.ended_title",
  error: "join.error_title",
};

// The screens that only say something (the page's end states).
const TEXTS = {
  nolink: "join.nolink_text",
  invalid: "join.invalid_text",
  denied: "join.denied_text",
  ended: "join.ended_text",
};

function Join() {
  const [phase, setPhase] = useState("loading");
  const [guest, setGuest] = useState(null);
  const [info, setInfo] = useState("");
  const [link] = useState(() => takeLink());

  /** Exchanges the link (and its code) for a guest session; throws the server's refusal. */
  async function redeem(code) {
    const body = { token: link, device_name: t("join.device_name") };
    if (code) body.code = code;
    const made = await new Api().post("/api/v1/consultations/redeem", body);
    const kept = {
      token: made.token,
      user_id: made.user_id,
      device_id: made.device_id,
      consultation_id: made.consultation_id,
      participant_id: made.participant_id,
      expires_at: made.expires_at,
      joined: false,
    };
    saveGuest(kept);
    setGuest(kept);
    setPhase("consent");
  }

  function refused(err) {
    if (err.code === "invite_invalid") {
      forget();
      setPhase("invalid");
    } else if (err.code === "invalid_credentials" && err.details?.code_required) {
      setPhase("code");
    } else {
      setInfo(errorText(err.code));
      setPhase("error");
    }
  }

  async function start() {
    setPhase("loading");
    const kept = loadGuest();
    if (kept) {
      setGuest(kept);
      setPhase(kept.joined ? "waiting" : "consent");
    } else if (!link) setPhase("nolink");
    else await redeem(null).catch(refused);
  }

  useEffect(() => {
    start();
  }, []);

  useLayoutEffect(() => {
    document.title = `${t(TITLES[phase])} · ${t("app.name")}`;
    // Each screen starts at its heading, so a screen reader reads the new screen from the top.
    // The code step focuses its field instead.
    if (phase !== "code") document.querySelector("main h1")?.focus();
  }, [phase]);

  /** The patient's consent, recorded by the server (with the text's version) before the
   * waiting room; throws the refusal for the consent screen to say. */
  async function consent() {
    const api = new Api();
    api.token = guest.token;
    try {
      await api.post(`/api/v1/consultations/${encodeURIComponent(guest.consultation_id)}/consent`, {
        text_version: CONSENT_VERSION,
      });
    } catch (err) {
      if (err.code === "consultation_ended" || err.code === "not_found" || err.code === "unauthorized") {
        over("ended");
        return;
      }
      throw err;
    }
    const joined = { ...guest, joined: true };
    saveGuest(joined);
    setGuest(joined);
    setPhase("waiting");
  }

  function over(final) {
    forget();
    setPhase(final);
  }

  let screen;
  if (phase === "code") screen = html`<${CodeStep} redeem=${redeem} refused=${refused} onBurned=${() => over("invalid")} />`;
  else if (phase === "consent") screen = html`<${Consent} onJoin=${consent} />`;
  else if (phase === "waiting" || phase === "admitted")
    screen = html`<${WaitingRoom} guest=${guest} phase=${phase} setPhase=${setPhase} over=${over} />`;
  else if (phase === "left")
    screen = html`<${Message} title=${t("call.left_title")} text=${t("call.left_text")}>
      <button type="button" onClick=${() => setPhase("waiting")}>${t("call.rejoin")}</button>
    <//>`;
  else if (phase === "error")
    screen = html`<${Message} title=${t("join.error_title")} text=${info}>
      <button type="button" onClick=${start}>${t("join.retry")}</button>
    <//>`;
  else if (phase === "loading") screen = html`<${Message} title=${t("join.loading_title")} text=${t("join.loading")} />`;
  else screen = html`<${Message} title=${t(TITLES[phase])} text=${t(TEXTS[phase])} />`;
  return screen;
}

function Message({ title, text, children }) {
  return html`
    <main id="main" class="join">
      <h1 tabindex="-1">${title}</h1>
      <p>${text}</p>
      ${children}
    </main>
  `;
}

function CodeStep({ redeem, refused, onBurned }) {
  const [code, setCode] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const errorRef = useRef(null);
  const field = useRef(null);

  useLayoutEffect(() => field.current?.focus(), []);
  useLayoutEffect(() => {
    if (error) errorRef.current?.focus();
  }, [error]);

  async function submit(event) {
    event.preventDefault();
    if (busy) return;
    if (!/^[0-9]{6}$/.test(code)) {
      setError(t("join.code_format"));
      return;
    }
    setBusy(true);
    setError("");
    try {
      await redeem(code);
    } catch (err) {
      setBusy(false);
      if (err.code === "invalid_credentials") {
        const left = err.details?.attempts_left ?? 0;
        if (left <= 0) onBurned();
        else setError(t(left === 1 ? "join.code_wrong_last" : "join.code_wrong", { n: left }));
      } else if (err.code === "invite_invalid") refused(err);
      else setError(errorText(err.code));
    }
  }

  return html`
    <main id="main" class="join">
      <h1 tabindex="-1">${t("join.code_title")}</h1>
      <p>${t("join.code_intro")}</p>
      <form onSubmit=${submit} novalidate>
        ${error && html`<p class="error" role="alert" tabindex="-1" ref=${errorRef} id="join-code-error">${error}</p>`}
        <label for="join-code">${t("join.code_label")}</label>
        <input
          id="join-code"
          ref=${field}
          name="code"
          inputmode="numeric"
          autocomplete="one-time-code"
          maxlength="6"
          aria-describedby=${error ? "join-code-error" : undefined}
          value=${code}
          onInput=${(e) => setCode(e.currentTarget.value.replace(/\D/g, "").slice(0, 6))}
        />
        <button type="submit" disabled=${busy} aria-busy=${busy ? "true" : "false"}>
          ${busy ? t("join.code_busy") : t("join.code_submit")}
        </button>
      </form>
    </main>
  `;
}

function Consent({ onJoin }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const errorRef = useRef(null);
  useLayoutEffect(() => {
    if (error) errorRef.current?.focus();
  }, [error]);
  async function join() {
    if (busy) return;
    setBusy(true);
    setError("");
    try {
      await onJoin();
    } catch (err) {
      setBusy(false);
      setError(errorText(err.code));
    }
  }
  return html`
    <main id="main" class="join">
      <h1 tabindex="-1">${t("join.consent_title")}</h1>
      <p>${t("join.consent_intro")}</p>
      <p>${t("join.consent_what")}</p>
      ${error && html`<p class="error" role="alert" tabindex="-1" ref=${errorRef}>${error}</p>`}
      <button type="button" disabled=${busy} aria-busy=${busy ? "true" : "false"} onClick=${join}>${t("join.consent_submit")}</button>
      <details>
        <summary>${t("join.data_title")}</summary>
        <p>${t("join.data_text")}</p>
      </details>
    </main>
  `;
}

/** Connected over socket.io: `consult.join` on every (re)connection — a lost connection is not a
 * departure, so a reload or a reconnect stays admitted — and `consult.state` / `consult.ended`.
 * Once admitted, the same socket carries the call's signalling and the encrypted text. */
function WaitingRoom({ guest, phase, setPhase, over }) {
  const [online, setOnline] = useState(true);
  const [socket, setSocket] = useState(/** @type {Socket|null} */ (null));
  // The link check may start once the server has us in its waiting room (consult.join acked).
  const [joined, setJoined] = useState(false);
  const [checked, setChecked] = useState(false);
  const text = useText(socket, guest, joined && (checked || phase === "admitted"), phase === "admitted");
  // The camera and microphone opened by the waiting room's check, handed to the call.
  const [held] = useState(deviceHolder);
  const wait = useWait(socket, guest.consultation_id, joined && phase === "waiting" && online);

  useEffect(() => {
    const socket = new Socket(guest.token);
    setSocket(socket);
    const id = guest.consultation_id;
    let done = false;
    const finish = (final) => {
      if (done) return;
      done = true;
      text.closeAll(true);
      held.release();
      socket.close();
      over(final);
    };
    socket.on("connect", async () => {
      setOnline(true);
      try {
        const joined = await socket.call("consult.join", { consultation_id: id });
        if (!done) {
          setPhase(joined.state === "admitted" ? "admitted" : "waiting");
          setJoined(true);
        }
      } catch (err) {
        if (err.code === "not_admitted") finish("denied");
        else if (err.code === "consultation_ended" || err.code === "not_found") finish("ended");
      }
    });
    socket.on("disconnect", () => setOnline(false));
    // A refusal of the connection itself: the guest session was revoked (sent away, or ended).
    socket.on("connect_error", (err) => err?.data?.error && finish("ended"));
    socket.on("consult.state", (data) => {
      if (data?.consultation_id !== id || done) return;
      if (data.state === "admitted") setPhase("admitted");
      else if (data.state === "denied") finish("denied");
    });
    socket.on("consult.ended", (data) => data?.consultation_id === id && finish("ended"));
    return () => {
      done = true;
      text.closeAll(false);
      held.release();
      socket.close();
    };
  }, [guest.token]);

  const admitted = phase === "admitted";
  if (admitted && socket)
    return html`<${CallScreen} socket=${socket} guest=${guest} online=${online} text=${text.ready} openDevices=${() => held.take()} onLeave=${() => setPhase("left")} onRefused=${() => setPhase("waiting")} />`;
  let status = admitted ? t("join.admitted_status") : waitWords(wait);
  if (!online) status = t("join.reconnecting");
  const estimate = !admitted && online ? estimateWords(wait) : "";
  return html`
    <main id="main" class="join">
      <h1 tabindex="-1">${admitted ? t("join.admitted_title") : t("join.waiting_title")}</h1>
      <p class=${admitted ? "status ok" : "status"} role="status">${status}</p>
      ${estimate && html`<p class="estimate">${estimate}</p>`}
      <p>${admitted ? t("join.admitted_next") : t("join.waiting_keep_open")}</p>
      ${!admitted && joined && html`<${DeviceCheck} held=${held} />`}
      ${!admitted && joined && socket && html`<${LinkCheck} socket=${socket} consultationId=${guest.consultation_id} onDone=${() => setChecked(true)} />`}
    </main>
  `;
}

const TEXT_RETRY_MS = 5000;
// How often the waiting room asks for news of the wait (consult.wait).
const WAIT_POLL_MS = 30_000;

/** The server's news of the wait (`consult.wait`), asked now, on each nudge and every 30 s
 * while `on`. */
function useWait(socket, consultationId, on) {
  const [wait, setWait] = useState(/** @type {any} */ (null));
  useEffect(() => {
    if (!socket || !on) return undefined;
    let gone = false;
    const ask = async () => {
      try {
        const found = await socket.call("consult.wait", { consultation_id: consultationId });
        if (!gone) setWait(found);
      } catch {
        // Offline or refused: the status keeps its last words; the next round tries again.
      }
    };
    ask();
    const timer = setInterval(ask, WAIT_POLL_MS);
    // The server nudges when the host's queue changed (the host arrived, took someone in).
    const off = socket.on("consult.wait_changed", (data) => data?.consultation_id === consultationId && ask());
    return () => {
      gone = true;
      clearInterval(timer);
      off();
    };
  }, [socket, on]);
  return wait;
}

/** What is happening, for the live status: said once per change, not at every poll. */
function waitWords(wait) {
  if (!wait) return t("join.waiting_not_yet");
  if (wait.host_busy) return t("join.waiting_busy");
  if (wait.host_present) return t("join.waiting_soon");
  return t("join.waiting_not_yet");
}

/** How long, outside the live region (a figure that moves every minute must not be read out
 * every minute): people ahead, then minutes rounded up. Nothing when there is no figure. */
function estimateWords(wait) {
  if (!wait || !wait.estimate_s) return "";
  const ahead = wait.ahead === 1 ? t("join.waiting_ahead_one") : wait.ahead > 1 ? t("join.waiting_ahead", { n: wait.ahead }) : "";
  const minutes = Math.max(1, Math.ceil(wait.estimate_s / 60));
  const how = minutes === 1 ? t("join.waiting_estimate_one") : t("join.waiting_estimate", { m: minutes });
  return [ahead, how].filter(Boolean).join(" ");
}

/**
 * The encrypted text (./text.js, its own chunk): loaded once `start` (in the waiting room, after
 * the link check), the chat room opened once `admitted`. Failures (offline, keys not published
 * yet) are tried again; the call goes on meanwhile. `ready` is {TextChannel, channel, nameOf} once
 * the channel is open; `closeAll(wipe)` ends it with the socket.
 */
function useText(socket, guest, start, admitted) {
  const kit = useRef(/** @type {any} */ (null));
  const [prepared, setPrepared] = useState(/** @type {any} */ (null));
  const [ready, setReady] = useState(/** @type {any} */ (null));
  const closed = useRef(false);
  const wipe = useRef(false);

  useEffect(() => {
    if (!socket || !start || kit.current || !guest.user_id) return undefined;
    let timer = null;
    const attempt = async () => {
      try {
        const mod = await import("./text.js");
        const made = await mod.prepareText(socket, guest, () => !wipe.current);
        if (closed.current) {
          // The consultation ended while the keys were being made: what they stored meanwhile
          // (after the page's forget()) goes too.
          await made.close(wipe.current);
          if (wipe.current) forget();
          return;
        }
        kit.current = made;
        setPrepared({ mod, made });
      } catch {
        if (!closed.current) timer = setTimeout(attempt, TEXT_RETRY_MS);
        // It failed because the consultation ended under it (the socket closed): what it
        // stored before failing goes too.
        else if (wipe.current) forget();
      }
    };
    kit.current = "loading";
    attempt();
    return () => {
      // Waiting to try again: the next start tries at once.
      if (timer) kit.current = null;
      clearTimeout(timer);
    };
  }, [socket, start]);

  useEffect(() => {
    if (!prepared || !admitted || ready) return undefined;
    let timer = null;
    let gone = false;
    const attempt = async () => {
      try {
        const channel = await prepared.made.open();
        const nameOf = (userId) => channel.names.get(userId) || t("call.other_side");
        if (!gone) setReady({ TextChannel: prepared.mod.TextChannel, channel, nameOf });
      } catch {
        if (!gone) timer = setTimeout(attempt, TEXT_RETRY_MS);
      }
    };
    attempt();
    return () => {
      gone = true;
      clearTimeout(timer);
    };
  }, [prepared, admitted]);

  return {
    ready,
    closeAll(wiping) {
      closed.current = true;
      // Once wiped, wiped for good: the screen's unmount closes again without wiping, and a
      // preparation still under way must not read that as leave to save the keys back.
      wipe.current = wipe.current || wiping;
      const made = kit.current;
      kit.current = null;
      if (made && made !== "loading") made.close(wiping);
    },
  };
}

setLanguage(initialLanguage());
render(html`<${Join} />`, document.getElementById("root"));
