// The string catalogues (fr by default, en) and the language choice. Every string a screen shows
// comes from here; `tests/unit/test_web_catalogues.py` fails when a key used in the sources is
// missing from a catalogue or the two catalogues differ in their keys.
import fr from "./fr.json";
import en from "./en.json";

export const CATALOGUES = { fr, en };
export const LANGUAGES = ["fr", "en"];
const PREF_KEY = "relais.lang";

let current = "fr";

/** The language to start in: the one the user chose on this browser, else the browser's, else fr. */
export function initialLanguage() {
  try {
    const saved = localStorage.getItem(PREF_KEY);
    if (saved && LANGUAGES.includes(saved)) return saved;
  } catch {
    // storage blocked: fall through to the browser's language
  }
  for (const tag of navigator.languages || [navigator.language || ""]) {
    const base = String(tag).slice(0, 2).toLowerCase();
    if (LANGUAGES.includes(base)) return base;
  }
  return "fr";
}

/** @param {string} lang */
export function setLanguage(lang, remember = false) {
  current = LANGUAGES.includes(lang) ? lang : "fr";
  document.documentElement.lang = current;
  if (remember) {
    try {
      localStorage.setItem(PREF_KEY, current);
    } catch {
      // the choice then lasts for this page only
    }
  }
}

export function language() {
  return current;
}

/**
 * The string for `key` with `{name}` placeholders filled from `vars`. A missing key shows the key
 * itself (visible in tests and screenshots) rather than an empty label.
 * @param {string} key @param {Record<string, string|number>} [vars]
 */
export function t(key, vars) {
  const text = CATALOGUES[current][key] ?? CATALOGUES.fr[key] ?? key;
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? formatValue(vars[name]) : m));
}

function formatValue(value) {
  return typeof value === "number" ? new Intl.NumberFormat(current).format(value) : String(value);
}

/** A server error code as words for the user: `error.<code>`, or the generic one. */
export function errorText(code) {
  const key = `error.${code}`;
  return key in CATALOGUES.fr ? t(key) : t("error.unknown");
}

/** @param {number} ms */
export function formatTime(ms) {
  const date = new Date(ms);
  const today = new Date();
  const sameDay = date.toDateString() === today.toDateString();
  const opts = sameDay ? { hour: "2-digit", minute: "2-digit" } : { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" };
  return new Intl.DateTimeFormat(current, opts).format(date);
}
