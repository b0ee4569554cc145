/**
 * The JavaScript twin of the Python package `crypto/` (docs/crypto.md): one module per protocol
 * object, same names in camelCase. Import a module by name (`./group.js`) or everything from
 * here as namespaces mirroring `crypto.group`, `crypto.identity`, ...
 */

export * as attachments from './attachments.js';
export * as backup from './backup.js';
export * as encoding from './encoding.js';
export * as errors from './errors.js';
export * as group from './group.js';
export * as identity from './identity.js';
export * as keys from './keys.js';
export * as membership from './membership.js';
export * as pairwise from './pairwise.js';
export * as sodium from './sodium.js';
export * as trust from './trust.js';
export { CryptoError, CODES } from './errors.js';
