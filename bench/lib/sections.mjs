// BENCHMARKS.md holds the standard tables (rewritten by every `npm run bench`) and the sections of
// the issue-13 benchmarks (sustained rate, reconnect storm, connection scale), each between
// `<!-- bench:KEY -->` and `<!-- /bench:KEY -->` (and the Redis engine's, from bench/redis.mjs, and
// issue 12's Fetch handler runs, `run.mjs --fetch`). Each benchmark replaces only its own section, and
// the standard report keeps the others.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';

export const SECTION_KEYS = [
  'sustained',
  'storm',
  'scale',
  'redis',
  'fetch',
  'identity',
  'stream-stop',
  'policies',
];

const open = (k) => `<!-- bench:${k} -->`;
const close = (k) => `<!-- /bench:${k} -->`;

/** The sections (with their markers) found in `text`, by key. */
export function sectionsOf(text) {
  /** @type {Record<string, string>} */
  const out = {};
  for (const k of SECTION_KEYS) {
    const i = text.indexOf(open(k));
    const j = text.indexOf(close(k));
    if (i >= 0 && j > i) out[k] = text.slice(i, j + close(k).length);
  }
  return out;
}

/** Replaces (or appends) section `key` of `file` with `md`. */
export function writeSection(file, key, md) {
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  const block = `${open(key)}\n${md.trim()}\n${close(key)}`;
  const old = sectionsOf(text)[key];
  let next;
  if (old) next = text.replace(old, () => block);
  else {
    // new sections go before the hand-written analysis, in SECTION_KEYS order
    const at = text.indexOf('\n## Analysis');
    next = at >= 0 ? `${text.slice(0, at)}\n${block}\n${text.slice(at)}` : `${text.trimEnd()}\n\n${block}\n`;
  }
  writeFileSync(file, next);
}
