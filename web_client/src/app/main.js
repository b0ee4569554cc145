// Entry point of the browser app: opens the vault, resumes or asks for a session, sets this
// browser up as one of the user's devices when it is not yet, then shows the workspace. One
// socket per tab, opened once signed in and closed on the way out.
import "../ui/app.css";
import { render } from "preact";
import { useEffect, useLayoutEffect, useState } from "preact/hooks";
import { html } from "../ui/html.js";
import { errorText, initialLanguage, setLanguage, t } from "../i18n/index.js";
import { Vault } from "../store/vault.js";
import { Session } from "./session.js";
import { AppClient } from "./client.js";
import { SignIn } from "../ui/signin.js";
import { DeviceSetup } from "../ui/device_setup.js";
import { Workspace } from "../ui/clinician/workspace.js";
import { AssistantConsole } from "../ui/assistant/console.js";

function App({ vault }) {
  const [state, setState] = useState({ phase: "loading", app: null, error: "" });
  const [, setLang] = useState(initialLanguage());

  async function start(session) {
    let app = null;
    try {
      if (session.vault.locked) {
        // Resumed without reaching the server: the vault opens only with the device's vault key.
        setState({ phase: "waiting", app: null });
        await untilUnlocked(session);
      }
      app = await AppClient.open(session);
      app.on("ended", () => ended(app));
      const status = await app.deviceStatus();
      if (status === "ready") {
        setState({ phase: "ready", app });
        await app.connect();
      } else setState({ phase: status, app });
    } catch (err) {
      if (err?.code === "unauthorized" && app) return ended(app);
      setState({ phase: "signin", app: null, error: errorText(err.code) });
    }
  }

  /** The server ended this session (signed out or this device revoked from another device):
   * back to the sign-in screen, saying why. */
  async function ended(app) {
    if (app._ended) return;
    app._ended = true;
    await app.close().catch(() => {});
    await app.session.endedElsewhere();
    location.hash = "";
    setState({ phase: "signin", app: null, error: t("signin.ended") });
  }

  useEffect(() => {
    Session.resume(vault).then((session) => (session ? start(session) : setState({ phase: "signin" })));
  }, []);

  useLayoutEffect(() => {
    const titles = { signin: "signin.title", first_device: "setup.first_title", new_device: "setup.new_title" };
    document.title = titles[state.phase] ? `${t(titles[state.phase])} · ${t("app.name")}` : t("app.name");
    // Each screen focuses what comes first on it; if none did, the main region takes focus so a
    // screen reader starts reading the new screen rather than staying on what disappeared.
    const active = document.activeElement;
    if (!active || active === document.body) document.getElementById("main")?.focus();
  }, [state.phase]);

  async function signIn(creds) {
    await start(await Session.login(vault, creds));
  }

  async function ready() {
    const app = state.app;
    setState({ phase: "ready", app });
    await app.connect().catch((err) => err?.code === "unauthorized" && ended(app));
  }

  async function leave(forget) {
    const app = state.app;
    if (app) app._ended = true; // the session ends here on purpose, not "elsewhere"
    if (forget) {
      // Out of the signed device list first (co-members stop encrypting to it), then wiped.
      const own = app.session.deviceId;
      await app.session.forgetDevice(state.phase === "ready" ? () => app.revokeDevice(own) : null);
      // Not awaited: the revoked device's last work can only fail now, and the wiped vault
      // refuses to be written again, so nothing of it lands back in storage.
      app.close().catch(() => {});
      location.replace(location.pathname);
      return;
    }
    await app?.close();
    await app.session.signOut();
    location.hash = "";
    setState({ phase: "signin", app: null });
  }

  function changeLanguage(lang) {
    setLanguage(lang, true);
    setLang(lang);
  }

  if (state.phase === "waiting") return html`<main id="main" tabindex="-1"><p role="status">${t("app.waiting_server")}</p></main>`;
  if (state.phase === "loading") return html`<main id="main"><p role="status">${t("app.loading")}</p></main>`;
  if (state.phase === "signin") return html`<${SignIn} onSignIn=${signIn} initialError=${state.error} />`;
  if (state.phase === "first_device" || state.phase === "new_device") {
    return html`<${DeviceSetup} app=${state.app} status=${state.phase} onReady=${ready} />`;
  }
  // A health-bus assistant gets the assisted-session console instead of the care rooms.
  const Screen = state.app.session.record.role === "assistant" ? AssistantConsole : Workspace;
  return html`<${Screen} app=${state.app} onSignOut=${() => leave(false)} onForget=${() => leave(true)} onLanguage=${changeLanguage} />`;
}

/** Retries the vault key every few seconds, and at once when the browser says it is online. */
async function untilUnlocked(session) {
  for (let delay = 1000; ; delay = Math.min(delay * 2, 15000)) {
    try {
      await session.unlock();
      return;
    } catch (err) {
      if (err.code === "unauthorized") throw err;
    }
    await new Promise((resolve) => {
      const wake = () => (clearTimeout(timer), removeEventListener("online", wake), resolve());
      const timer = setTimeout(wake, delay);
      addEventListener("online", wake);
    });
  }
}

setLanguage(initialLanguage());
Vault.open().then((vault) => render(html`<${App} vault=${vault} />`, document.getElementById("root")));
