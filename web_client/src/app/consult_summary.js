// The end-of-consultation summary the host posts into the patient's care room (issue 13): who took
// part, when and for how long, and every change of call mode with its cause in words. It is an
// ordinary encrypted text message (through the outbox, like anything typed): the server, which
// keeps the record it is made from, never sees the summary's text in the room. Built from the
// consultation's record (`GET /consultations/{id}/record`, host only).
import { formatTime, t } from "../i18n/index.js";
import { causeOf, modeKey } from "../call/modes.js";

const MAX_MODE_LINES = 30;

function minutes(ms) {
  return Math.max(1, Math.round(ms / 60000));
}

/** @param {any} record the consultation's record @returns {string} the summary's text */
export function summaryText(record) {
  const people = new Map((record.participants || []).map((p) => [p.participant_id, p]));
  const nameOf = (pid) => people.get(pid)?.display_name || t("people.unknown");
  const lines = [t("summary.title")];
  const start = record.created_at;
  const end = record.ended_at || Date.now();
  lines.push(t("summary.when", { start: formatTime(start), end: formatTime(end), minutes: minutes(end - start) }));
  const took = (record.participants || []).filter((p) => p.admitted_at);
  lines.push(
    t("summary.participants", {
      list: took.map((p) => `${nameOf(p.participant_id)} (${t(`consult.role_${p.role}`)})`).join(", ") || t("summary.nobody"),
    }),
  );
  const last = new Map();
  const changes = [];
  for (const e of record.events || []) {
    if (e.kind !== "mode" || !e.detail?.mode) continue;
    // The mode left: in the entry (since it was recorded), else the participant's previous entry.
    const previous = e.detail.previous || last.get(e.participant_id) || null;
    last.set(e.participant_id, e.detail.mode);
    if (!previous || previous === e.detail.mode) continue;
    const cause = causeOf({ mode: e.detail.mode, previous, reason: e.detail.reason });
    const mode = t(`consult.mode_${modeKey(e.detail.mode)}`);
    changes.push(
      `${formatTime(e.ts)} ${nameOf(e.participant_id)} : ${mode}${cause ? ` (${t(`consult.cause_${cause}`)})` : ""}`,
    );
  }
  if (!changes.length) lines.push(t("summary.no_mode_change"));
  else {
    lines.push(t("summary.mode_changes", { count: changes.length }));
    for (const line of changes.slice(0, MAX_MODE_LINES)) lines.push(`- ${line}`);
    if (changes.length > MAX_MODE_LINES) lines.push(t("summary.more", { count: changes.length - MAX_MODE_LINES }));
  }
  return lines.join("\n");
}
