// What the join page keeps between reloads of its tab: the link's token until it is redeemed, then
// the guest session it was exchanged for. sessionStorage, not the vault or localStorage: it
// survives a reload (no new admission) but not the tab, so a shared device keeps nothing once the
// tab is closed, and the page wipes it as soon as the consultation ends or the patient is sent away.
const LINK_KEY = "relais.join.link";
const GUEST_KEY = "relais.join.guest";

function read(key) {
  try {
    return sessionStorage.getItem(key);
  } catch {
    return null; // storage blocked: the page still works, a reload then needs the link again
  }
}

function write(key, value) {
  try {
    if (value === null) sessionStorage.removeItem(key);
    else sessionStorage.setItem(key, value);
  } catch {
    // storage blocked: kept in memory only
  }
}

/** The token of `/consult/<token>`, taken out of the address bar at once (WEB.md: tokens never
 * stay in URLs) and kept for this tab until it is redeemed. Returns the token to redeem, or null. */
export function takeLink() {
  const m = location.pathname.match(/^\/consult\/([A-Za-z0-9_-]+)$/);
  if (m) {
    history.replaceState(null, "", "/consult/");
    if (!loadGuest()) write(LINK_KEY, m[1]);
  }
  return read(LINK_KEY);
}

/** @returns {{token: string, user_id: string, device_id: string, consultation_id: string,
 *   participant_id: string, expires_at: number, joined: boolean}|null} */
export function loadGuest() {
  try {
    const guest = JSON.parse(read(GUEST_KEY) || "null");
    if (guest && guest.token && guest.expires_at > Date.now()) return guest;
  } catch {
    // unreadable: start again from the link
  }
  write(GUEST_KEY, null);
  return null;
}

export function saveGuest(guest) {
  write(GUEST_KEY, JSON.stringify(guest));
  write(LINK_KEY, null);
}

/** The consultation is over for this tab: nothing of it stays, the text's keys (./text.js)
 * included. */
export function forget() {
  try {
    for (const key of Object.keys(sessionStorage)) if (key.startsWith("relais.join.")) sessionStorage.removeItem(key);
  } catch {
    // storage blocked: nothing was kept
  }
}
