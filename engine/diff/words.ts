// Word-level diff of one line (a command, a wait, an assert): which `--flag=value` words changed,
// and for member/endpoint lists which items were added and removed (order ignored).
import { edits } from './lcs.js';
import { canonicalWord, listsIn, setDiff } from './sets.js';
import type { LineChange, Span, WordChange } from './model.js';

interface Word {
  text: string;
  start: number;
}

function splitWords(line: string): Word[] {
  // split(' ') is much faster than a regex on long lines; other whitespace is rare and split after.
  const out: Word[] = [];
  let pos = 0;
  for (const part of line.split(' ')) {
    if (part !== '') {
      // Only short words can hide a tab or newline worth splitting on; lists never do.
      if (part.length < 4096 && /[\t\n\r\f\v]/.test(part)) for (const m of part.matchAll(/\S+/g)) out.push({ text: m[0], start: pos + m.index });
      else out.push({ text: part, start: pos });
    }
    pos += part.length + 1;
  }
  return out;
}

/** `--flag=value` or `VAR=value` at the start of a word; else the flag of a list inside it (sed 's|…|VAR=a,b|'). */
export function wordKey(word: string): string | undefined {
  const lead = /^(--?[A-Za-z0-9][A-Za-z0-9-]*|[A-Za-z_][A-Za-z0-9_]*)=/.exec(word);
  if (lead) return lead[1];
  return listsIn(word).find((l) => l.key)?.key;
}

/** The changed middle of two strings (common prefix and suffix trimmed), as spans in each. */
function middleSpans(a: string, b: string, offA: number, offB: number): [Span, Span] {
  let p = 0;
  while (p < a.length && p < b.length && a[p] === b[p]) p++;
  let s = 0;
  while (s < a.length - p && s < b.length - p && a[a.length - 1 - s] === b[b.length - 1 - s]) s++;
  return [
    [offA + p, offA + Math.max(p, a.length - s)],
    [offB + p, offB + Math.max(p, b.length - s)],
  ];
}

/** Spans of the given items inside a list found at `list.start` of a word at `off`. */
function itemSpans(list: { start: number; items: string[] }, wanted: Set<string>, off: number): Span[] {
  const spans: Span[] = [];
  let pos = list.start;
  for (const item of list.items) {
    if (wanted.has(item)) spans.push([off + pos, off + pos + item.length]);
    pos += item.length + 1;
  }
  return spans;
}

function pairWords(o: Word, n: Word, key: string | undefined, oldSpans: Span[], newSpans: Span[]): WordChange {
  const change: WordChange = { ...(key ? { key } : {}), old: o.text, new: n.text };
  const lo = listsIn(o.text);
  const ln = listsIn(n.text);
  const lo0 = lo[0];
  const ln0 = ln[0];
  if (lo.length === 1 && ln.length === 1 && lo0 && ln0) {
    const d = setDiff(lo0.items, ln0.items);
    change.added = d.added;
    change.removed = d.removed;
    oldSpans.push(...itemSpans(lo0, new Set(d.removed), o.start));
    newSpans.push(...itemSpans(ln0, new Set(d.added), n.start));
    // Differences outside the list (the flag itself, quoting) are highlighted as a whole.
    const outsideOld = o.text.slice(0, lo0.start) + o.text.slice(lo0.end);
    const outsideNew = n.text.slice(0, ln0.start) + n.text.slice(ln0.end);
    if (outsideOld !== outsideNew) {
      oldSpans.push([o.start, o.start + o.text.length]);
      newSpans.push([n.start, n.start + n.text.length]);
    }
    return change;
  }
  const [so, sn] = middleSpans(o.text, n.text, o.start, n.start);
  oldSpans.push(so);
  newSpans.push(sn);
  return change;
}

/** Compare two lines word by word; words equal up to list order are unchanged. */
export function diffLine(oldLine: string, newLine: string): LineChange {
  const ow = splitWords(oldLine);
  const nw = splitWords(newLine);
  const words: WordChange[] = [];
  const oldSpans: Span[] = [];
  const newSpans: Span[] = [];
  for (const e of edits(
    ow.map((w) => canonicalWord(w.text)),
    nw.map((w) => canonicalWord(w.text)),
  )) {
    if (e.op === 'same') continue;
    const removed = e.a.map((i) => ow[i]).filter((w): w is Word => w !== undefined);
    const added = e.b.map((j) => nw[j]).filter((w): w is Word => w !== undefined);
    const usedNew = new Set<Word>();
    const lone: Word[] = [];
    // Pair words that set the same flag; then a single leftover on each side; the rest are lone.
    for (const o of removed) {
      const key = wordKey(o.text);
      const n = key === undefined ? undefined : added.find((w) => !usedNew.has(w) && wordKey(w.text) === key);
      if (n) {
        usedNew.add(n);
        words.push(pairWords(o, n, key, oldSpans, newSpans));
      } else lone.push(o);
    }
    const leftNew = added.filter((w) => !usedNew.has(w));
    const lo = lone[0];
    const ln = leftNew[0];
    if (lone.length === 1 && leftNew.length === 1 && lo && ln) {
      words.push(pairWords(lo, ln, undefined, oldSpans, newSpans));
      continue;
    }
    for (const o of lone) {
      const key = wordKey(o.text);
      words.push({ ...(key ? { key } : {}), old: o.text });
      oldSpans.push([o.start, o.start + o.text.length]);
    }
    for (const n of leftNew) {
      const key = wordKey(n.text);
      words.push({ ...(key ? { key } : {}), new: n.text });
      newSpans.push([n.start, n.start + n.text.length]);
    }
  }
  return { old: oldLine, new: newLine, words, oldSpans: mergeSpans(oldSpans), newSpans: mergeSpans(newSpans) };
}

function mergeSpans(spans: Span[]): Span[] {
  const sorted = spans.filter(([a, b]) => b > a).sort((x, y) => x[0] - y[0]);
  const out: Span[] = [];
  for (const s of sorted) {
    const last = out[out.length - 1];
    if (last && s[0] <= last[1]) last[1] = Math.max(last[1], s[1]);
    else out.push([s[0], s[1]]);
  }
  return out;
}

/** The value part of a `--flag=value` word (the whole word when it has no flag). */
export function wordValue(word: string, key: string | undefined): string {
  return key !== undefined && word.startsWith(`${key}=`) ? word.slice(key.length + 1) : word;
}
