// Builds the browser app into dist/: content-hashed bundles under dist/assets/, the HTML pages
// that name them, a manifest and the third-party licences. The output is a pure function of the
// sources and the locked dependencies, so CI rebuilds into a scratch folder and compares it byte
// for byte with the committed dist/ (tests/unit/test_web_bundles.py).
//
//   node build.mjs [--outdir DIR]
import { createHash } from "node:crypto";
import { cpSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { brotliCompressSync, constants as zlib, gzipSync } from "node:zlib";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const argOut = process.argv.indexOf("--outdir");
const outdir = resolve(argOut > 0 ? process.argv[argOut + 1] : join(here, "dist"));

// Entry points: one per page. Code shared between them, and anything imported with `import()`
// (argon2 for the key backup, the QR code), lands in its own hashed chunk loaded on demand.
// `join` is the patient's page (/consult/<token>): it must not load the clinician workspace.
const ENTRIES = { app: "src/app/main.js", join: "src/join/main.js" };
// The HTML pages built from templates: their {{name.js|css|preload}} become the hashed files,
// named relative to `base` (join.html is served at /consult/<token>, so it names /app/assets/…).
const PAGES = [
  { template: "src/index.html", out: "index.html", base: "" },
  { template: "src/join/join.html", out: "join.html", base: "/app/" },
];
// Pages copied as they are (no bundling): the media check page has no dependency at all.
const PLAIN_PAGES = ["src/pages/media-check.html", "src/pages/media-check.js"];
// Browsers the app supports: what WebRTC, IndexedDB and non-extractable WebCrypto keys need.
const TARGET = ["chrome100", "firefox100", "safari15.4"];

rmSync(outdir, { recursive: true, force: true });
mkdirSync(join(outdir, "assets"), { recursive: true });

const result = await esbuild.build({
  absWorkingDir: here,
  entryPoints: ENTRIES,
  bundle: true,
  splitting: true,
  format: "esm",
  minify: true,
  target: TARGET,
  outdir: join(outdir, "assets"),
  entryNames: "[name]-[hash]",
  chunkNames: "[name]-[hash]",
  assetNames: "[name]-[hash]",
  loader: { ".json": "json" },
  legalComments: "none",
  charset: "utf8",
  metafile: true,
  write: true,
  logLevel: "warning",
});

// Which output file holds each entry (its JS and its CSS), for the HTML template.
const named = {};
const preloads = {};
for (const [file, out] of Object.entries(result.metafile.outputs)) {
  if (!out.entryPoint) continue;
  const name = Object.keys(ENTRIES).find((k) => resolve(here, ENTRIES[k]) === resolve(here, out.entryPoint));
  if (!name) continue; // a chunk loaded with import() (the QR encoder): no page names it
  named[`${name}.js`] = relative(outdir, resolve(here, file));
  if (out.cssBundle) named[`${name}.css`] = relative(outdir, resolve(here, out.cssBundle));
  // The chunks the entry imports statically: the browser learns of them only once the entry has
  // arrived and been parsed, one round trip later (150-400 ms on the links Relais targets), unless
  // the page names them up front with <link rel="modulepreload">.
  preloads[`${name}.preload`] = out.imports
    .filter((i) => i.kind === "import-statement" && !i.external)
    .map((i) => `<link rel="modulepreload" href="${relative(outdir, resolve(here, i.path))}">`)
    .join("\n");
}

// index.html, join.html: the template's {{app.js}} / {{app.css}} become the hashed names.
for (const page of PAGES) {
  const template = readFileSync(join(here, page.template), "utf8");
  const html = template.replace(/\{\{([a-z]+\.(?:js|css|preload))\}\}/g, (_, key) => {
    const value = key.endsWith(".preload") ? preloads[key] : named[key];
    if (value === undefined) throw new Error(`${page.template} names ${key}, which the build did not produce`);
    return key.endsWith(".preload") ? value.replaceAll('href="', `href="${page.base}`) : page.base + value;
  });
  writeFileSync(join(outdir, page.out), html);
}
for (const page of PLAIN_PAGES) cpSync(join(here, page), join(outdir, page.split("/").pop()));

// The licences of every third-party package that ended up in a bundle.
const packages = new Set();
for (const input of Object.keys(result.metafile.inputs)) {
  const m = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
  if (m) packages.add(m[1]);
}
const licences = [...packages].sort().map((pkg) => {
  const root = join(here, "node_modules", pkg);
  const meta = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  const file = readdirSync(root).find((f) => /^licen[sc]e/i.test(f));
  const text = file ? readFileSync(join(root, file), "utf8").trim() : `License: ${meta.license}`;
  return `${pkg} ${meta.version} (${meta.license})\n\n${text}\n`;
});
writeFileSync(join(outdir, "THIRD-PARTY-LICENSES.txt"), licences.join("\n" + "-".repeat(72) + "\n\n"));

// Precompressed siblings (`x.js.br`, `x.js.gz`) of every text file: the server's FileResponse
// sends the one the browser accepts, so a rural link gets brotli without the node compressing
// anything per request. Both encoders are deterministic for the same input and settings.
const TEXT = /\.(js|css|html|json|txt|svg)$/;
const compressAll = (dir) => {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) compressAll(path);
    else if (TEXT.test(entry.name)) {
      const raw = readFileSync(path);
      writeFileSync(`${path}.br`, brotliCompressSync(raw, { params: { [zlib.BROTLI_PARAM_QUALITY]: 11, [zlib.BROTLI_PARAM_SIZE_HINT]: raw.length } }));
      writeFileSync(`${path}.gz`, gzipSync(raw, { level: 9 }));
    }
  }
};
compressAll(outdir);

// The manifest: every file with its SHA-256, so an operator can check a deployment.
const files = {};
const walk = (dir) => {
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path);
    else if (entry.name !== "manifest.json") {
      files[relative(outdir, path)] = createHash("sha256").update(readFileSync(path)).digest("hex");
    }
  }
};
walk(outdir);
writeFileSync(join(outdir, "manifest.json"), JSON.stringify({ entries: named, files }, null, 1) + "\n");
if (!existsSync(join(outdir, "index.html"))) throw new Error("no index.html");
console.log(`built ${Object.keys(files).length} files into ${relative(process.cwd(), outdir) || "."}`);
