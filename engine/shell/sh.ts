// Commands built by construction (google/zx's `$` is the model): in sh`…` every interpolated value
// is one shell word, quoted with shq, unless it is already shell text (another sh`…`, or an
// explicit raw(…) that a reviewer can find). Run-time placeholders inside a value are quoted when
// they are filled: ⟨!x⟩ (raw) becomes ⟨x⟩ (quoted), exactly as the static parts around it are.
import { shq } from './quote.js';

/** Shell text that is safe to insert as it is: made only by sh`…` and raw(). */
export class ShellText {
  private constructor(readonly text: string) {}
  /** @internal the only constructor; use sh`…` or raw(). */
  static of(text: string): ShellText {
    return new ShellText(text);
  }
  toString(): string {
    return this.text;
  }
}

/** What sh`…` accepts: text to quote, numbers, shell text, or lists of those (one word each). */
export type ShValue = string | number | ShellText | readonly ShValue[];

/**
 * Insert trusted shell syntax unquoted. Every call is a place a reviewer must read: the lint rule
 * for engine/modules allows only string literals here (anything else needs a reasoned exception).
 */
export function raw(text: string): ShellText {
  return ShellText.of(text);
}

const TOKEN = /(⟨!?[A-Za-z_][A-Za-z0-9_.\-[\]]*⟩)/;
const IS_TOKEN = /^⟨!?[A-Za-z_][A-Za-z0-9_.\-[\]]*⟩$/;

// Long values (an initial-cluster of many members) repeat on every host: quote each once.
const longQuoted = new Map<string, string>();

/** One shell word for `value`; placeholders in it are quoted when filled. */
export function word(value: string): string {
  if (value.length <= 256) return quoteParts(value);
  const hit = longQuoted.get(value);
  if (hit !== undefined) return hit;
  const quoted = quoteParts(value);
  if (longQuoted.size > 64) longQuoted.clear();
  longQuoted.set(value, quoted);
  return quoted;
}

function quoteParts(s: string): string {
  if (!s.includes('⟨')) return shq(s);
  return s
    .split(TOKEN)
    .filter((part) => part !== '')
    .map((part) => (IS_TOKEN.test(part) ? part.replace('⟨!', '⟨') : shq(part)))
    .join('');
}

function insert(v: ShValue): string {
  if (v instanceof ShellText) return v.text;
  if (typeof v === 'string') return word(v);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new TypeError(`sh: ${v} is not a finite number`);
    return String(v);
  }
  if (Array.isArray(v)) return (v as readonly ShValue[]).map(insert).join(' ');
  throw new TypeError(`sh: cannot insert a ${typeof v} into a command`);
}

/** sh`mkdir -p ${dir}`: a command with every value quoted. */
export function sh(strings: TemplateStringsArray, ...values: ShValue[]): ShellText {
  let out = strings[0] ?? '';
  values.forEach((v, i) => (out += insert(v) + (strings[i + 1] ?? '')));
  return ShellText.of(out);
}

/** Join pieces of shell text (e.g. ` && `-separated steps). */
export function joinSh(parts: readonly ShellText[], sep: string): ShellText {
  return ShellText.of(parts.map((p) => p.text).join(sep));
}

/**
 * `bash -c SCRIPT NAME ARGS…`: the script is fixed text and values reach it only as positional
 * arguments ("$1"), so a value is never parsed twice (a placeholder filled into a script that is
 * itself a quoted word would be unquoted by the outer shell). A script holding a placeholder is refused.
 */
export function bashScript(script: ShellText, name: string, ...args: ShValue[]): ShellText {
  if (script.text.includes('⟨')) throw new TypeError('bashScript: pass run-time values as arguments, not inside the script');
  return args.length ? sh`bash -c ${script.text} ${name} ${args}` : sh`bash -c ${script.text}`;
}
