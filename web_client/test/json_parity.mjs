// The strict JSON of src/crypto/encoding.js on a batch of cases, for the parity test against
// crypto/encoding.py (tests/unit/test_js_json_parity.py). Not a test itself.
//
//   node test/json_parity.mjs < cases.json > results.json
//
// stdin is one JSON array of cases, each {"mode": "object", "text": T} (loadsObject of the
// string T), {"mode": "object", "hex": H} (loadsObject of the bytes H) or {"mode": "value",
// "text": T} (loadsValue of T). stdout is one JSON array, a result per case in order:
//   {"ok": true, "value": V, "dumps": D}  V the parsed value, D = dumps(V) or null
//   {"ok": true, "value": V, "dumps_code": C}  dumps(V) refused with CryptoError code C
//   {"ok": false, "code": C}  refused with CryptoError code C
//   {"crash": M}  anything else was thrown: always a bug
// A parsed value holding a lone surrogate travels as a \udXXX escape (JSON.stringify writes
// well-formed JSON), which Python's json.loads reads back into the same string. What JSON has no
// form for travels tagged ({"$js": "bigint", "text": ...}), so it can never pass for a number.
import { dumps, loadsObject, loadsValue } from '../src/crypto/encoding.js';
import { CryptoError } from '../src/crypto/errors.js';

// `node --test test/` runs every .mjs under test/: this driver is not a test, leave at once.
if (process.env.NODE_TEST_CONTEXT) process.exit(0);
if (process.stdin.isTTY) {
  process.stderr.write('usage: node test/json_parity.mjs < cases.json\n');
  process.exit(0);
}

function attempt(fn) {
  try {
    return { value: fn() };
  } catch (err) {
    if (err instanceof CryptoError) return { code: err.code };
    return { crash: `${err?.name}: ${err?.message}` };
  }
}

function run(c) {
  let input;
  if (typeof c.hex === 'string') input = Uint8Array.from(Buffer.from(c.hex, 'hex'));
  else input = c.text;
  const read = c.mode === 'value' ? loadsValue : loadsObject;
  const parsed = attempt(() => read(input));
  if (parsed.crash !== undefined) return { crash: parsed.crash };
  if (parsed.code !== undefined) return { ok: false, code: parsed.code };
  const written = attempt(() => dumps(parsed.value));
  if (written.crash !== undefined) return { crash: `dumps: ${written.crash}` };
  if (written.code !== undefined) return { ok: true, value: parsed.value, dumps_code: written.code };
  return { ok: true, value: parsed.value, dumps: written.value };
}

function tagged(_key, v) {
  if (typeof v === 'bigint') return { $js: 'bigint', text: String(v) };
  if (Object.is(v, -0)) return { $js: '-0' };
  if (typeof v === 'number' && !Number.isFinite(v)) return { $js: 'number', text: String(v) };
  if (v instanceof Number) return { $js: 'Number', text: String(v.valueOf()) };
  return v;
}

// Read as a stream: readFileSync(0) fails with EAGAIN on a non-blocking pipe.
const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const text = Buffer.concat(chunks).toString('utf8');
const cases = text.trim() === '' ? [] : JSON.parse(text);
process.stdout.write(JSON.stringify(cases.map(run), tagged));
