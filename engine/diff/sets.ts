// Lists whose order etcd ignores, compared as sets: `--initial-cluster=a=URL,b=URL` (and
// ETCD_INITIAL_CLUSTER), `--endpoints=URL,URL`, any comma-separated list of URLs, and the member-name
// lists some derive functions take. Reordering the `etcd` group changes only the order inside these
// lists, which is not a change to what runs.
import type { Action, Json } from '../model/types.js';

const URL = String.raw`[a-z][a-z0-9+.-]*://[^\s,'"|;&()\\]+`;
const NAME = String.raw`[A-Za-z0-9][A-Za-z0-9._-]*`;
/** `name=URL,name=URL,…` or `URL,URL,…` (two items at least), starting a word or a value. */
const LIST = new RegExp(String.raw`(?<![^\s='"|(])(?:${NAME}=${URL}(?:,${NAME}=${URL})+|${URL}(?:,${URL})+)`, 'g');
/** The flag or variable a list is the value of: `--initial-cluster=`, `ETCD_INITIAL_CLUSTER=`. */
const KEY_BEFORE = /(--?[A-Za-z0-9][A-Za-z0-9-]*|[A-Za-z_][A-Za-z0-9_]*)=$/;

/** Derive functions whose arguments are member sets: function → argument positions. */
const SET_ARGS: Record<string, number[]> = { require_members: [1], quorum_preflight: [1] };

export interface FoundList {
  start: number;
  end: number;
  key?: string;
  items: string[];
}

/** The member/endpoint lists in a word, with where they are and which flag they belong to. */
export function listsIn(text: string): FoundList[] {
  return text.includes(',') ? listsInCached(text) : [];
}

const listsInCached = cached(4096, (text: string): FoundList[] => {
  const out: FoundList[] = [];
  for (const m of text.matchAll(LIST)) {
    const start = m.index;
    const key = KEY_BEFORE.exec(text.slice(Math.max(0, start - 64), start))?.[1];
    out.push({ start, end: start + m[0].length, items: m[0].split(','), ...(key ? { key } : {}) });
  }
  return out;
});

/** The same long list appears on every host's command: sort each distinct list once. */
const sortedLists = new Map<string, string>();

function sortList(m: string): string {
  const hit = sortedLists.get(m);
  if (hit !== undefined) return hit;
  const out = m.split(',').sort().join(',');
  if (sortedLists.size > 256) sortedLists.clear();
  sortedLists.set(m, out);
  return out;
}

/**
 * Per-word results, cached: the same long word (a 1,000-member --initial-cluster) is on every
 * host's command, and looking a string up is far cheaper than scanning it again.
 */
function cached<T>(limit: number, fn: (word: string) => T): (word: string) => T {
  const cache = new Map<string, T>();
  return (word) => {
    const hit = cache.get(word);
    if (hit !== undefined) return hit;
    const v = fn(word);
    if (cache.size >= limit) cache.clear();
    cache.set(word, v);
    return v;
  };
}

const canonicalWordCached = cached(4096, (w) => w.replace(LIST, sortList));

/** canonicalText for one word (no whitespace in it). */
export function canonicalWord(word: string): string {
  return word.includes(',') ? canonicalWordCached(word) : word;
}

/** The text with every such list sorted: equal for two texts that differ only in list order. */
export function canonicalText(text: string): string {
  if (!text.includes(',')) return text;
  // Lists never contain whitespace: work word by word, so long words are scanned once.
  const parts = text.split(' ');
  for (let i = 0; i < parts.length; i++) {
    const w = parts[i];
    if (w !== undefined && w.includes(',')) parts[i] = canonicalWordCached(w);
  }
  return parts.join(' ');
}

const setDiffCache = new WeakMap<readonly string[], WeakMap<readonly string[], { added: string[]; removed: string[] }>>();

/** Items of b not in a, and of a not in b, each in its own list's order (cached per pair of lists). */
export function setDiff(a: readonly string[], b: readonly string[]): { added: string[]; removed: string[] } {
  let inner = setDiffCache.get(a);
  const hit = inner?.get(b);
  if (hit) return hit;
  const sa = new Set(a);
  const sb = new Set(b);
  const r = { added: b.filter((x) => !sa.has(x)), removed: a.filter((x) => !sb.has(x)) };
  if (!inner) setDiffCache.set(a, (inner = new WeakMap()));
  inner.set(b, r);
  return r;
}

function canonicalJson(v: Json | undefined): Json | undefined {
  if (typeof v === 'string') return canonicalText(v);
  if (Array.isArray(v)) return v.map((x) => canonicalJson(x) ?? null);
  if (v && typeof v === 'object') {
    const out: Record<string, Json> = {};
    for (const k of Object.keys(v).sort()) {
      const x = canonicalJson(v[k]);
      if (x !== undefined) out[k] = x;
    }
    return out;
  }
  return v;
}

function sortedSet(v: Json | undefined): Json | undefined {
  if (typeof v === 'string') return v.split(',').filter(Boolean).sort().join(',');
  if (Array.isArray(v))
    return [...v]
      .map((x) => JSON.stringify(x))
      .sort()
      .map((x) => JSON.parse(x) as Json);
  return v;
}

/**
 * A key that is equal for two actions exactly when they do the same thing: sorted object keys
 * (a saved plan and a fresh one order keys differently), member lists as sets.
 */
export function actionKey(a: Action): string {
  // Commands can be long (a 1,000-member list): keep them out of JSON.stringify, which copies them again.
  if (a.kind === 'exec' || a.kind === 'local' || a.kind === 'wait') {
    const { cmd, ...rest } = a;
    return `${canonicalText(cmd)}\u0000${JSON.stringify(canonicalJson(rest))}`;
  }
  let v = a as unknown as Json;
  if (a.kind === 'derive' && SET_ARGS[a.fn]) {
    const positions = SET_ARGS[a.fn] ?? [];
    v = { ...a, args: a.args.map((x, i) => (positions.includes(i) ? (sortedSet(x) ?? null) : x)) };
  }
  return JSON.stringify(canonicalJson(v));
}
