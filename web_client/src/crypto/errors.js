/**
 * One exception type for every protocol failure, with a stable code (twin of crypto/errors.py).
 *
 * Clients branch on `code` to decide what the user sees and to count failures per kind; the
 * codes are the Python ones, string for string, so a UI and its metrics mean the same thing
 * whichever client produced them.
 */

export const CODES = Object.freeze([
  'bad_encoding', // malformed base64, JSON or field types
  'bad_signature', // a signature does not verify
  'bad_ciphertext', // AEAD / secretstream authentication failed
  'unknown_device', // the sender device is not in its user's verified device list
  'identity_changed', // the identity key differs from the pinned one
  'rollback', // a device list older than one already accepted
  'replay', // a pairwise id or a (session, index) seen before
  'missing_key', // no inbound session, or only from a later index
  'too_far', // a ratchet step count above the limit
  'prekey_gone', // the pre-key a message was made for has been erased
  'chain_invalid', // a membership event breaks a chain rule
  'chain_forked', // the served chain does not extend the verified head
  'chain_withheld', // a message refers to membership events the server does not produce
  'devices_forked', // two device lists at one version, or one that does not link to the last
  'devices_invalid', // a device list that breaks the succession rules (a retired id dropped)
  'devices_withheld', // a device-list head is known but the server does not produce it
  'not_entitled', // a key request or share from a device that may not have the key
  'truncated', // an attachment stream without its final chunk
]);

export class CryptoError extends Error {
  constructor(code, message = '', options = undefined) {
    // An unknown code is a programming error, not a protocol outcome: fail loudly, like the
    // Python assert.
    if (!CODES.includes(code)) throw new TypeError(`unknown CryptoError code ${code}`);
    super(message ? `${code}: ${message}` : code, options);
    this.name = 'CryptoError';
    this.code = code;
  }
}
