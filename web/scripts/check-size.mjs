#!/usr/bin/env node
// The size budget: the JavaScript the first page (sign-in) needs, gzipped, stays under 150 KB.
// Reads the build's manifest (dist/.vite/manifest.json) and adds up the entry's static imports and
// the sign-in page's chunk with its own; prints every page's cost next to it.
// Usage: node scripts/check-size.mjs [dist]   (exit 1 when over budget)

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const BUDGET_KB = 150;
const FIRST_PAGE = "src/pages/login/LoginPage.tsx";
const dist = process.argv[2] ?? "dist";
const manifest = JSON.parse(readFileSync(join(dist, ".vite", "manifest.json"), "utf8"));

const gz = new Map();
function gzipKb(file) {
  if (!gz.has(file)) gz.set(file, gzipSync(readFileSync(join(dist, file)), { level: 9 }).length / 1024);
  return gz.get(file);
}

/** The JS files a manifest entry loads before it runs: itself and its static imports, transitively. */
function closure(key, seen = new Set()) {
  const chunk = manifest[key];
  if (!chunk || seen.has(chunk.file)) return seen;
  seen.add(chunk.file);
  for (const dep of chunk.imports ?? []) closure(dep, seen);
  return seen;
}

const entryKey = Object.keys(manifest).find((k) => manifest[k].isEntry);
if (!entryKey) throw new Error("no entry in the manifest");
const entry = closure(entryKey);
const total = (files) => [...files].filter((f) => f.endsWith(".js")).reduce((s, f) => s + gzipKb(f), 0);

const rows = [];
for (const key of Object.keys(manifest).filter((k) => k.startsWith("src/pages/"))) {
  const files = closure(key, new Set(entry));
  const own = new Set([...closure(key)].filter((f) => !entry.has(f)));
  rows.push({ page: key.replace("src/pages/", ""), kb: total(files), own: total(own) });
}
rows.sort((a, b) => b.kb - a.kb);
const first = rows.find((r) => `src/pages/${r.page}` === FIRST_PAGE);
if (!first) throw new Error(`${FIRST_PAGE} not in the manifest`);

console.log(`entry (${entryKey}) and its imports: ${total(entry).toFixed(1)} KB gzipped`);
console.log("page                                     with entry   beyond the entry");
for (const r of rows) console.log(`${r.page.padEnd(40)} ${r.kb.toFixed(1).padStart(7)} KB ${r.own.toFixed(1).padStart(10)} KB`);
const ok = first.kb < BUDGET_KB;
console.log(`first page (${first.page}): ${first.kb.toFixed(1)} KB gzipped, budget ${BUDGET_KB} KB: ${ok ? "ok" : "OVER BUDGET"}`);
process.exit(ok ? 0 : 1);
