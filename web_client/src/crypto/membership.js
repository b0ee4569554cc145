/**
 * The signed membership chain of a room (docs/crypto.md §5); twin of crypto/membership.py.
 *
 * Who may receive room keys is decided from events signed by members' identity keys and linked
 * by hash, not from what the server says: the server can refuse or withhold changes, but it
 * cannot add a member, drop one event from the middle or reorder events without every client
 * noticing.
 */

import {
  b64d,
  b64e,
  get,
  h,
  isBytes,
  loadsObject,
  lp,
  makeSigned,
  memcmp,
  reqId,
  reqInt,
  splitSigned,
  verifyDetached,
} from './encoding.js';
import { CryptoError } from './errors.js';

export const EVENT_TYPE = 'relais.member.v1';
export const L_MEMBER = 'relais/v1/member';
export const L_HASH = 'relais/v1/member-hash';
export const ZERO_HASH = new Uint8Array(32);
export const ACTIONS = Object.freeze(['create', 'add', 'remove', 'role']);
export const ROLES = Object.freeze(['owner', 'member']);
export const HISTORIES = Object.freeze(['shared', 'joined']);
const EVENT_KEYS = Object.freeze([
  't',
  'room',
  'n',
  'prev',
  'action',
  'actor',
  'target',
  'role',
  'consent',
  'history',
  'ts',
]);

const bad = (why) => new CryptoError('bad_encoding', why);
const invalid = (why, cause) => new CryptoError('chain_invalid', why, cause && { cause });

export class ChainEvent {
  constructor(fields) {
    Object.assign(this, fields);
    Object.freeze(this);
  }
}

function hashParts(s, sig) {
  return h(32, lp(L_HASH, s, sig));
}

export function eventHash(wire) {
  const [s, sig] = splitSigned(wire);
  return hashParts(s, sig);
}

function optId(obj, key) {
  const v = get(obj, key);
  return v === null || v === undefined ? null : reqId(obj, key);
}

function parse(wire) {
  const [s, sig] = splitSigned(wire);
  const obj = loadsObject(s);
  const keys = Object.keys(obj);
  if (keys.length !== EVENT_KEYS.length || !EVENT_KEYS.every((k) => Object.hasOwn(obj, k))) {
    throw bad('not a relais.member.v1 event');
  }
  if (obj.t !== EVENT_TYPE) throw bad('not a relais.member.v1 event');
  const n = reqInt(obj, 'n');
  if (n < 1) throw bad('n starts at 1');
  let prev;
  if (n === 1) {
    if (obj.prev !== '') throw bad('the first event has an empty prev');
    prev = new Uint8Array(0);
  } else {
    prev = b64d(obj.prev, 32);
  }
  const action = obj.action;
  if (!ACTIONS.includes(action)) throw bad('unknown action');
  const role = obj.role;
  const consent = optId(obj, 'consent');
  const history = obj.history;
  // What each action carries is fixed, so one change has exactly one meaning.
  let ok;
  if (action === 'create' || action === 'add') ok = ROLES.includes(role) && HISTORIES.includes(history);
  else if (action === 'remove') ok = role === null && history === null;
  else ok = ROLES.includes(role) && history === null;
  if (!ok || (consent !== null && action !== 'add')) {
    throw bad(`role/history/consent do not fit a ${action} event`);
  }
  const ev = new ChainEvent({
    n,
    prev,
    room: reqId(obj, 'room'),
    action,
    actor: reqId(obj, 'actor'),
    target: reqId(obj, 'target'),
    role,
    consent,
    history,
    ts: reqInt(obj, 'ts'),
    wire,
    hash: hashParts(s, sig),
  });
  return [ev, s, sig];
}

/** Structure only: the caller still has to verify the signature under the actor's key. */
export function parseEvent(wire) {
  return parse(wire)[0];
}

/**
 * The wire form; refused (bad_encoding) if it would not parse, so a bug surfaces here rather
 * than as a chain every other member rejects.
 */
export function makeEvent(ik, { room, n, prev, action, actor, target, role, consent, history, ts }) {
  if (!isBytes(prev)) throw bad('prev must be bytes');
  const obj = { t: EVENT_TYPE, room, n, prev: b64e(prev), action, actor, target };
  Object.assign(obj, { role, consent, history, ts });
  const wire = makeSigned(ik.secret, L_MEMBER, obj);
  parseEvent(wire);
  return wire;
}

export class Member {
  constructor(role, history, addedN) {
    this.role = role;
    this.history = history;
    this.addedN = addedN;
  }
}

/**
 * The member list after `headN` verified events.
 *
 * `intervals` keeps, per user who was ever a member, the [addedN, removedN or null] spans, so
 * "was X a member when session S was created" (§6.2) needs no replay of the chain.
 */
export class ChainState {
  constructor({ room, members, policy, headN, headHash, intervals = new Map() }) {
    Object.assign(this, { room, members, policy, headN, headHash, intervals });
  }

  static empty(room) {
    return new ChainState({
      room,
      members: new Map(),
      policy: null,
      headN: 0,
      headHash: ZERO_HASH,
    });
  }

  copy() {
    const members = new Map();
    for (const [u, m] of this.members) members.set(u, new Member(m.role, m.history, m.addedN));
    const intervals = new Map();
    for (const [u, spans] of this.intervals) intervals.set(u, spans.map((s) => [...s]));
    return new ChainState({ ...this, members, intervals });
  }

  owners() {
    return [...this.members].filter(([, m]) => m.role === 'owner').map(([u]) => u).sort();
  }

  memberAt(user, n) {
    return (this.intervals.get(user) ?? []).some(([a, r]) => a <= n && (r === null || n < r));
  }

  /**
   * Verify one event against this state and, only if every check passes, apply it.
   *
   * Throws `bad_signature` for a signature that does not verify under `actorIk`, and
   * `chain_invalid` for everything else (including a malformed event): to a client both mean
   * this chain cannot be trusted.
   */
  apply(wire, actorIk) {
    let ev;
    let s;
    let sig;
    try {
      [ev, s, sig] = parse(wire);
    } catch (err) {
      if (err instanceof CryptoError) throw invalid(`malformed event (${err.message})`, err);
      throw err;
    }
    if (!isBytes(actorIk)) throw new CryptoError('bad_signature', 'no identity key');
    verifyDetached(actorIk, L_MEMBER, lp(s), sig);
    this.checkRules(ev);
    this.commit(ev);
    return ev;
  }

  checkRules(ev) {
    const fail = (why) => invalid(`event ${ev.n}: ${why}`);
    if (ev.room !== this.room) throw fail('belongs to another room');
    if (ev.n !== this.headN + 1) throw fail(`expected event ${this.headN + 1}`);
    const expectedPrev = this.headN === 0 ? new Uint8Array(0) : this.headHash;
    if (!memcmp(ev.prev, expectedPrev)) throw fail('prev is not the hash of the previous event');
    if ((ev.action === 'create') !== (this.headN === 0)) {
      throw fail('create is the first event and only the first');
    }
    const actor = this.members.get(ev.actor);
    const target = this.members.get(ev.target);
    if (ev.action === 'create') {
      if (ev.actor !== ev.target || ev.role !== 'owner') {
        throw fail('the creator makes themself owner');
      }
      return;
    }
    if (ev.action === 'add') {
      if (actor === undefined || actor.role !== 'owner') throw fail('only an owner adds');
      if (target !== undefined) throw fail('target is already a member');
      return;
    }
    if (target === undefined) throw fail('target is not a member');
    if (ev.action === 'remove') {
      if (ev.actor !== ev.target && (actor === undefined || actor.role !== 'owner')) {
        throw fail('only an owner removes others');
      }
      if (target.role === 'owner' && this.owners().length === 1) {
        throw fail('the last owner cannot be removed');
      }
      return;
    }
    // role
    if (actor === undefined || actor.role !== 'owner') throw fail('only an owner changes roles');
    if (target.role === 'owner' && ev.role !== 'owner' && this.owners().length === 1) {
      throw fail('the last owner cannot be demoted');
    }
  }

  commit(ev) {
    if (ev.action === 'create' || ev.action === 'add') {
      this.members.set(ev.target, new Member(ev.role, ev.history, ev.n));
      if (!this.intervals.has(ev.target)) this.intervals.set(ev.target, []);
      this.intervals.get(ev.target).push([ev.n, null]);
      if (ev.action === 'create') this.policy = ev.history;
    } else if (ev.action === 'remove') {
      this.members.delete(ev.target);
      const spans = this.intervals.get(ev.target);
      spans[spans.length - 1] = [spans[spans.length - 1][0], ev.n];
    } else {
      this.members.get(ev.target).role = ev.role;
    }
    this.headN = ev.n;
    this.headHash = ev.hash;
  }
}

function checkHeads(wires, heads) {
  for (const [n, want] of heads) {
    if (n === 0) continue;
    if (n > wires.length) {
      throw new CryptoError('chain_forked', `served chain is shorter than the verified head ${n}`);
    }
    let got;
    try {
      got = eventHash(wires[n - 1]);
    } catch (err) {
      if (!(err instanceof CryptoError)) throw err;
      throw new CryptoError('chain_forked', `event ${n} is not the verified head`, { cause: err });
    }
    if (!memcmp(got, want)) {
      throw new CryptoError('chain_forked', `event ${n} differs from the verified head`);
    }
  }
}

/**
 * The member list the served chain proves, which must extend every head verified before.
 *
 * With `known`, the prefix up to its head is checked by hash links only (its signatures were
 * verified when `known` was computed, and matching hashes mean the same bytes); the events after
 * it are verified in full. `identityKeyOf(user)` returns the pinned identity key of a user, or
 * null (an actor whose key is not pinned cannot sign anything we accept: `chain_invalid`).
 * `knownHead` is [n, hash].
 */
export function verifyChain(room, wires, identityKeyOf, { known = null, knownHead = null } = {}) {
  const heads = [];
  if (known !== null) {
    if (known.room !== room) throw invalid('known state is for another room');
    heads.push([known.headN, known.headHash]);
  }
  if (knownHead !== null) {
    if (
      !Array.isArray(knownHead) ||
      knownHead.length !== 2 ||
      typeof knownHead[0] !== 'number' ||
      !Number.isInteger(knownHead[0]) ||
      knownHead[0] < 0 ||
      !isBytes(knownHead[1])
    ) {
      throw bad('known_head must be [n, hash]');
    }
    heads.push(knownHead);
  }
  checkHeads(wires, heads);

  let state = ChainState.empty(room);
  let start = 0;
  if (known !== null && known.headN > 0) {
    let prev = new Uint8Array(0);
    for (let k = 0; k < known.headN; k++) {
      let ev;
      try {
        ev = parseEvent(wires[k]);
      } catch (err) {
        if (!(err instanceof CryptoError)) throw err;
        throw new CryptoError('chain_forked', `event ${k + 1} is malformed`, { cause: err });
      }
      if (ev.n !== k + 1 || !memcmp(ev.prev, prev) || ev.room !== room) {
        throw new CryptoError('chain_forked', `event ${k + 1} does not link to the head`);
      }
      prev = ev.hash;
    }
    state = known.copy();
    start = known.headN;
  }

  for (const wire of wires.slice(start)) {
    let actor;
    try {
      actor = parseEvent(wire).actor;
    } catch (err) {
      if (err instanceof CryptoError) throw invalid(`malformed event (${err.message})`, err);
      throw err;
    }
    const ik = identityKeyOf(actor);
    if (ik === null || ik === undefined) throw invalid(`no pinned identity key for ${actor}`);
    state.apply(wire, ik);
  }
  return state;
}

/**
 * The state a stored chain describes, with every rule of §5.2 applied but no signature checked:
 * the server's view (it pins no identity keys).
 */
export function replayUnverified(room, wires) {
  const state = ChainState.empty(room);
  for (const wire of wires) {
    const ev = parseEvent(wire);
    state.checkRules(ev);
    state.commit(ev);
  }
  return state;
}

/**
 * The server's check that a signed event describes the change it is about to make and extends
 * the stored chain (mirrored here so both twins answer the same; the browser never runs it for
 * real). With the whole stored `chain`, the member rules of §5.2 are applied too.
 */
export function checkAppend(
  room,
  lastWire,
  newWire,
  { action, actor, target, role, consent, actorIk, chain = null },
) {
  if (chain !== null) {
    const state = replayUnverified(room, chain);
    state.checkRules(parseEvent(newWire));
    lastWire = chain.length > 0 ? chain[chain.length - 1] : null;
  }
  const ev = parseEvent(newWire);
  const fields = ['room', 'action', 'actor', 'target', 'role', 'consent'];
  const want = { room, action, actor, target, role, consent };
  const diff = fields.filter((f) => ev[f] !== want[f]);
  if (diff.length > 0) throw invalid(`event does not describe this change: ${diff}`);
  if (lastWire === null) {
    if (ev.n !== 1) throw invalid('the first signed event must have n = 1');
  } else {
    const last = parseEvent(lastWire);
    if (ev.n !== last.n + 1 || !memcmp(ev.prev, last.hash)) {
      throw invalid(`event does not extend event ${last.n}`);
    }
  }
  if ((ev.action === 'create') !== (ev.n === 1)) {
    throw invalid('create is the first event and only the first');
  }
  if (actorIk !== null && actorIk !== undefined) {
    const [s, sig] = splitSigned(newWire);
    verifyDetached(actorIk, L_MEMBER, lp(s), sig);
  }
  return ev;
}
