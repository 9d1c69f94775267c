// YAML files with positions. Problems are collected as Diagnostics, never thrown one at a time
// (like eemeli/yaml's composer collects doc.errors). Offsets become line:col in one place: posAt().
import { createHash } from 'node:crypto';
import { LineCounter, parseDocument, isMap, isSeq, isPair, isScalar, visit, type Document, type Node as YNode, type Pair } from 'yaml';
import { diag, type Diagnostic } from '../model/diagnostics.js';
import type { Json, SourceRef } from '../model/types.js';
import { checkDocumentLimits, INPUT_LIMITS, readInputText } from './limits.js';

export type PathSeg = string | number;

export interface Source {
  /** The path shown in messages (as the user typed it). */
  file: string;
  text: string;
  sha256: string;
  doc: Document;
  data: Json;
  lineCounter: LineCounter;
}

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export function sha256(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex');
}

function posAt(src: { file: string; lineCounter: LineCounter }, offset: number): SourceRef {
  const { line, col } = src.lineCounter.linePos(offset);
  return { file: src.file, line, col };
}

const pairIndex = new WeakMap<Pair[], Map<string, Pair>>();

/** Nodes stepped through by position lookups (locate) since start: tests assert it grows linearly with the input. */
export const positionWork = { steps: 0 };

/** The pair of a mapping with this key, through an index built once per mapping (a linear scan per lookup made a 1,000-host inventory quadratic). */
function pairByKey(items: Pair[], key: string): Pair | undefined {
  let index = pairIndex.get(items);
  if (!index) {
    index = new Map();
    positionWork.steps += items.length;
    for (const p of items) if (isScalar(p.key) && !index.has(String(p.key.value))) index.set(String(p.key.value), p);
    pairIndex.set(items, index);
  }
  return index.get(key);
}

/** Position and span length of the node at `path`; `key: true` points at the mapping key instead of its value. */
export function locate(src: Source, path: PathSeg[], key = false): SourceRef & { length: number } {
  let node: unknown = src.doc.contents;
  let best: [number, number] = [0, 1];
  const rangeOf = (n: unknown): [number, number] | undefined => {
    const r = (n as { range?: [number, number, number] } | null)?.range;
    return r ? [r[0], Math.max(1, r[1] - r[0])] : undefined;
  };
  best = rangeOf(node) ?? best;
  for (let i = 0; i < path.length; i++) {
    positionWork.steps++;
    const seg = path[i];
    let next: unknown;
    if (isMap(node)) {
      const pair = pairByKey(node.items, String(seg));
      if (!pair) break;
      if (key && i === path.length - 1) {
        next = pair.key;
      } else {
        next = pair.value ?? pair.key;
      }
    } else if (isSeq(node) && typeof seg === 'number') {
      next = node.items[seg];
    } else break;
    if (next === undefined || next === null) break;
    node = next;
    best = rangeOf(node) ?? best;
  }
  // A multi-line span underlines only to the end of its first line.
  const [start, len] = best;
  const nl = src.text.indexOf('\n', start);
  const length = nl >= 0 && nl < start + len ? Math.max(1, nl - start) : len;
  return { ...posAt(src, start), length };
}

/** Offset of a scalar's value inside the file, for mapping positions inside templates and conditions. */
export function scalarStart(src: Source, path: PathSeg[]): { ref: SourceRef & { length: number }; quoted: boolean; block: boolean } {
  const r = locate(src, path);
  const ch = src.text[src.lineCounter.lineStarts[r.line - 1]! + r.col - 1];
  return { ref: r, quoted: ch === '"' || ch === "'", block: ch === '|' || ch === '>' };
}

/** Position of a character offset inside a scalar (for errors inside conditions and templates). */
export function posInScalar(src: Source, path: PathSeg[], line: number, col: number): SourceRef & { length: number } {
  const s = scalarStart(src, path);
  if (s.block) {
    const fileLine = s.ref.line + line;
    // One line from the line index (splitting the whole file here, per template, was quadratic).
    const starts = src.lineCounter.lineStarts;
    const from = starts[fileLine - 1];
    const text = from === undefined ? '' : src.text.slice(from, (starts[fileLine] ?? src.text.length + 1) - 1);
    const indent = text.length - text.trimStart().length;
    return { file: src.file, line: fileLine, col: indent + col, length: 1 };
  }
  if (line <= 1) return { file: src.file, line: s.ref.line, col: s.ref.col + (s.quoted ? 1 : 0) + col - 1, length: 1 };
  return { ...s.ref, length: s.ref.length };
}

function yamlCode(code: string): 'duplicate-key' | 'yaml-syntax' {
  return code === 'DUPLICATE_KEY' ? 'duplicate-key' : 'yaml-syntax';
}

function checkKeys(src: Source, node: YNode | null | undefined, out: Diagnostic[]): void {
  if (isMap(node)) {
    // Duplicate keys are found here with a Set: yaml's own uniqueKeys check compares every pair
    // with every other, which is quadratic on a 1,000-host mapping.
    const seen = new Set<string>();
    for (const pair of node.items) {
      if (isPair(pair) && isScalar(pair.key)) {
        const k = String(pair.key.value);
        const at = pair.key.range ? posAt(src, pair.key.range[0]) : { file: src.file, line: 1, col: 1 };
        if (seen.has(k)) {
          out.push(diag('duplicate-key', 'duplicate key: a key may appear only once in a mapping', at, { length: Math.max(1, k.length) }));
        }
        seen.add(k);
        if (FORBIDDEN_KEYS.has(k)) {
          const hint = 'keys that name JavaScript object internals are refused to keep input from reshaping objects';
          out.push(diag('forbidden-key', `the key "${k}" is not allowed`, at, { length: k.length, hint }));
        } else if (k === '<<') {
          const hint = 'write the keys out; merges hide what a host really gets';
          out.push(diag('merge-key', 'YAML merge keys (<<) are not supported', at, { length: 2, hint }));
        }
      }
      if (isPair(pair)) checkKeys(src, pair.value as YNode, out);
    }
  } else if (isSeq(node)) {
    for (const item of node.items) checkKeys(src, item as YNode, out);
  }
}

/** An error reported in a line's indentation (e.g. a mis-indented key) belongs to the first thing on that line. */
function skipIndent(text: string, offset: number): number {
  const lineStart = text.lastIndexOf('\n', offset - 1) + 1;
  if (!/^[ \t]*$/.test(text.slice(lineStart, offset))) return offset;
  let i = offset;
  while (text[i] === ' ' || text[i] === '\t') i++;
  return i < text.length && text[i] !== '\n' && text[i] !== '\r' ? i : offset;
}

/** Start of the quoted scalar that runs up to `offset` without its closing quote. */
function unclosedQuoteStart(doc: Document, offset: number): number | undefined {
  let found: number | undefined;
  visit(doc, {
    Scalar(_key, node) {
      const quoted = node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE';
      if (quoted && node.range && node.range[0] < offset && node.range[1] >= offset) found = node.range[0];
    },
  });
  return found;
}

/** Parse YAML text; returns the Source (when usable) and every problem found. */
export function parseYaml(file: string, raw: string): { source?: Source; diagnostics: Diagnostic[] } {
  // A UTF-8 byte-order mark (some Windows editors write one) made the first line a syntax error.
  // Positions count from after it; the hash stays that of the file as written (saved plans compare it).
  const text = raw.startsWith('\uFEFF') ? raw.slice(1) : raw;
  const diagnostics: Diagnostic[] = [];
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: false, merge: false, prettyErrors: false, version: '1.2', strict: true });
  const src0 = { file, lineCounter };
  for (const e of doc.errors) {
    const message = e.message.split('\n')[0] ?? e.message;
    // An unclosed quote is noticed where the file ends: point at the quote that opened it (a
    // character yaml misses, at an offset inside a quoted scalar, by its code and position).
    const openQuote = e.code === 'MISSING_CHAR' ? unclosedQuoteStart(doc, e.pos[0]) : undefined;
    const at = posAt(src0, openQuote ?? skipIndent(text, e.pos[0]));
    // yaml reports its parser's stack overflow only in the message (it has no code of its own).
    if (/Maximum call stack size exceeded/.test(message)) {
      // The parser recursed once per level until the stack ran out: report the limit, not the crash.
      diagnostics.push(
        diag('input-limit', `nested more than ${INPUT_LIMITS.depth} levels deep`, at, {
          hint: 'runbook files nest a few levels; this looks generated or corrupt (README "Input limits")',
        }),
      );
      break;
    }
    const what =
      e.code === 'DUPLICATE_KEY'
        ? 'duplicate key: a key may appear only once in a mapping'
        : `YAML syntax error: ${message.replace(/ at line \d+, column \d+.*$/, '')}`;
    diagnostics.push(diag(yamlCode(e.code), what, at, { length: openQuote !== undefined ? 1 : Math.max(1, e.pos[1] - e.pos[0]) }));
  }
  if (doc.contents === null || (isScalar(doc.contents) && (doc.contents.value === null || doc.contents.value === ''))) {
    const hint = 'a playbook is a list of plays; an inventory a mapping with cluster, hosts and groups';
    if (diagnostics.length === 0) diagnostics.push(diag('empty-file', 'the file is empty', { file, line: 1, col: 1 }, { hint }));
    return { diagnostics };
  }
  if (diagnostics.length > 0) return { diagnostics };
  // Depth and aliases first: the checks after this one recurse on the document and expand aliases.
  diagnostics.push(...checkDocumentLimits(file, doc, lineCounter));
  if (diagnostics.length > 0) return { diagnostics };
  const source: Source = { file, text, sha256: sha256(raw), doc, lineCounter, data: null };
  checkKeys(source, doc.contents, diagnostics);
  if (diagnostics.length > 0) return { diagnostics };
  try {
    // The alias limits were checked above; yaml's own count stays as a second line of defence.
    source.data = doc.toJS({ maxAliasCount: INPUT_LIMITS.aliasExpansion }) as Json;
  } catch (e) {
    return { diagnostics: [diag('yaml-syntax', `YAML could not be read: ${e instanceof Error ? e.message : String(e)}`, { file, line: 1, col: 1 })] };
  }
  return { source, diagnostics };
}

export function readYaml(file: string, displayPath = file): { source?: Source; diagnostics: Diagnostic[] } {
  const r = readInputText(file, displayPath);
  if (r.diagnostics) return { diagnostics: r.diagnostics };
  return parseYaml(displayPath, r.text);
}
