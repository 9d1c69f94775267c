// Secret values never leave the process: every string a reporter prints or the journal stores
// passes through the redactor first. Matching is on exact values (plus the forms a value takes
// when it is shell-quoted or JSON-escaped), and for multi-line secrets on each line of 4+ chars,
// so a PEM key printed line by line is still caught.
import type { Json } from '../model/types.js';

export const REDACTED = '******';

export type Redactor = (text: string) => string;

/** The strings to look for, longest first (so a secret containing another is replaced whole). */
function needles(secrets: string[]): string[] {
  const found = new Set<string>();
  const add = (s: string, minLength: number): void => {
    if (s.length < minLength || s.trim() === '') return;
    found.add(s);
    // How the value looks inside single quotes (shq) and inside a JSON string.
    if (s.includes("'")) found.add(s.replaceAll("'", "'\\''"));
    const json = JSON.stringify(s).slice(1, -1);
    if (json !== s) found.add(json);
  };
  for (const secret of secrets) {
    // Short secrets are still redacted exactly; only the per-line pieces need a minimum length.
    add(secret, 1);
    if (/[\r\n]/.test(secret)) {
      for (const line of secret.split(/\r?\n|\r/)) {
        add(line, 4);
        add(line.trim(), 4);
      }
    }
  }
  return [...found].sort((a, b) => b.length - a.length || (a < b ? -1 : 1));
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export function makeRedactor(secrets: string[]): Redactor {
  const list = needles(secrets);
  if (list.length === 0) return (text) => text;
  const re = new RegExp(list.map(escapeRegExp).join('|'), 'g');
  return (text) => (typeof text === 'string' ? text.replace(re, () => REDACTED) : text);
}

/** Redacts every string (keys included) inside any plain data: objects, arrays, strings. */
export function redactDeep<T>(value: T, redact: Redactor): T {
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return redact(v);
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [redact(k), walk(x)]));
    }
    return v;
  };
  return walk(value) as T;
}

/** Deep-redacts a Json value (strings and object keys). */
export function redactJson(value: Json, redact: Redactor): Json {
  return redactDeep(value, redact);
}
