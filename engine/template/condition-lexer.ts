// Conditions, step 1: text → tokens (numbers, JSON-style strings, names, operators), each with
// its offset so errors point into the condition.

export class ConditionError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
    this.name = 'ConditionError';
  }
}

export interface Tok {
  k: 'num' | 'str' | 'name' | 'op' | 'end';
  v: string;
  at: number;
}

const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', b: '\b', f: '\f' };

export function tokenize(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i] ?? '';
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const rest = src.slice(i);
    let m: RegExpMatchArray | null;
    if ((m = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(rest)) && !(c === '-' && out.length > 0 && ['num', 'str', 'name'].includes(out[out.length - 1]?.k ?? ''))) {
      out.push({ k: 'num', v: m[0], at: i });
      i += m[0].length;
    } else if (c === '"' || c === "'") {
      let j = i + 1;
      let s = '';
      while (j < src.length && src[j] !== c) {
        if (src[j] === '\\' && j + 1 < src.length) {
          // JSON escapes, so that printCondition's JSON string literals read back as the same text.
          j++;
          const e = src[j] ?? '';
          const hex = /^u[0-9a-fA-F]{4}/.exec(src.slice(j));
          if (hex) {
            s += String.fromCharCode(parseInt(hex[0].slice(1), 16));
            j += 5;
            continue;
          }
          s += ESCAPES[e] ?? e;
        } else s += src[j];
        j++;
      }
      if (j >= src.length) throw new ConditionError('unterminated string', i);
      out.push({ k: 'str', v: s, at: i });
      i = j + 1;
    } else if ((m = /^[A-Za-z_][A-Za-z0-9_-]*/.exec(rest))) {
      out.push({ k: 'name', v: m[0], at: i });
      i += m[0].length;
    } else if ((m = /^(==|!=|<=|>=|<|>|\(|\)|\[|\]|\{|\}|:|\.|,|\|)/.exec(rest))) {
      out.push({ k: 'op', v: m[0], at: i });
      i += m[0].length;
    } else {
      throw new ConditionError(`unexpected character "${c}"`, i);
    }
  }
  out.push({ k: 'end', v: '', at: src.length });
  return out;
}
