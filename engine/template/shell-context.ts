// Where a {{value}} sits in a user's shell command. {{x}} renders as one single-quoted word, which
// is right where the shell reads words, and wrong inside '…' or "…" (the added quotes are literal
// there and "$(…)" in the value runs), inside a here-document body (no quote removal, $(…) runs)
// or a comment (a newline in the value ends it). Those places are refused at validate time.
// {{{x}}} (raw, explicit in review) is not checked.

export type ShellContext = 'single quotes' | 'double quotes' | 'a here-document' | 'a comment';

export interface MisplacedValue {
  /** 0-based offset of the "{{" in the command text. */
  offset: number;
  /** The mustache as written, e.g. "{{snapshot}}". */
  text: string;
  context: ShellContext;
}

type Frame = { kind: 'plain' | 'subst' | 'backtick'; depth: number } | { kind: 'single' | 'ansi' | 'double'; depth: 0 };

/** Length of the mustache starting at `i` ("{{" … "}}"), or 0 when there is none. */
function mustacheAt(s: string, i: number): number {
  if (!s.startsWith('{{', i)) return 0;
  const end = s.indexOf('}}', i + 2);
  if (end < 0) return 0;
  let close = end + 2;
  while (s[close] === '}') close++;
  return close - i;
}

/** A {{…}} that inserts a value quoted for the shell (not raw {{{…}}}, blocks, comments or else). */
function isQuotedValue(m: string): boolean {
  return !m.startsWith('{{{') && !/^\{\{~?\s*[#/!^>&]/.test(m) && !/^\{\{~?\s*else\b/.test(m);
}

const isWordStart = (s: string, i: number): boolean => i === 0 || /[\s;&|()]/.test(s[i - 1] ?? ' ');

/** Every {{value}} of `cmd` in a place where its quoting does not protect it. */
export function misplacedValues(cmd: string): MisplacedValue[] {
  const out: MisplacedValue[] = [];
  const stack: Frame[] = [{ kind: 'plain', depth: 0 }];
  const heredocs: { delim: string; strip: boolean }[] = [];
  let i = 0;
  const top = (): Frame => stack[stack.length - 1] ?? { kind: 'plain', depth: 0 };
  while (i < cmd.length) {
    const len = mustacheAt(cmd, i);
    if (len > 0) {
      const text = cmd.slice(i, i + len);
      const k = top().kind;
      const context: ShellContext | undefined = k === 'single' || k === 'ansi' ? 'single quotes' : k === 'double' ? 'double quotes' : undefined;
      if (context && isQuotedValue(text)) out.push({ offset: i, text, context });
      i += len;
      continue;
    }
    const c = cmd[i] ?? '';
    const f = top();
    if (f.kind === 'single') {
      if (c === "'") stack.pop();
      i++;
      continue;
    }
    if (f.kind === 'ansi') {
      if (c === '\\') i++;
      else if (c === "'") stack.pop();
      i++;
      continue;
    }
    if (c === '\\') {
      i += 2;
      continue;
    }
    if (f.kind === 'double') {
      if (c === '"') stack.pop();
      else if (cmd.startsWith('$(', i)) {
        stack.push({ kind: 'subst', depth: 0 });
        i++;
      } else if (c === '`') stack.push({ kind: 'backtick', depth: 0 });
      i++;
      continue;
    }
    // plain, $( … ) or ` … `: the shell reads words here.
    if (c === "'") stack.push({ kind: 'single', depth: 0 });
    else if (c === '"') stack.push({ kind: 'double', depth: 0 });
    else if (cmd.startsWith("$'", i) || cmd.startsWith('$(', i)) {
      stack.push({ kind: cmd[i + 1] === "'" ? 'ansi' : 'subst', depth: 0 });
      i++;
    } else if (c === '`') {
      if (f.kind === 'backtick') stack.pop();
      else stack.push({ kind: 'backtick', depth: 0 });
    } else if (c === '(') f.depth++;
    else if (c === ')') {
      if (f.kind === 'subst' && f.depth === 0) stack.pop();
      else if (f.depth > 0) f.depth--;
    } else if (c === '#' && isWordStart(cmd, i)) {
      const end = cmd.indexOf('\n', i);
      const stop = end < 0 ? cmd.length : end;
      for (let j = i; j < stop; j++) {
        const m = mustacheAt(cmd, j);
        if (m > 0 && isQuotedValue(cmd.slice(j, j + m))) out.push({ offset: j, text: cmd.slice(j, j + m), context: 'a comment' });
        if (m > 0) j += m - 1;
      }
      i = stop;
      continue;
    } else if (cmd.startsWith('<<', i) && !cmd.startsWith('<<<', i)) {
      const m = /^<<(-?)\s*(['"]?)([A-Za-z0-9_]+)\2/.exec(cmd.slice(i));
      if (m) {
        heredocs.push({ delim: m[3] ?? '', strip: m[1] === '-' });
        i += m[0].length;
        continue;
      }
    } else if (c === '\n' && heredocs.length) {
      // Here-document bodies start on the next line and end at a line that is exactly the delimiter.
      i++;
      for (const h of heredocs.splice(0)) {
        while (i < cmd.length) {
          const end = cmd.indexOf('\n', i);
          const stop = end < 0 ? cmd.length : end;
          const line = cmd.slice(i, stop);
          if ((h.strip ? line.replace(/^\t+/, '') : line) === h.delim) {
            i = stop + 1;
            break;
          }
          for (let j = i; j < stop; j++) {
            const mm = mustacheAt(cmd, j);
            if (mm > 0 && isQuotedValue(cmd.slice(j, j + mm))) out.push({ offset: j, text: cmd.slice(j, j + mm), context: 'a here-document' });
            if (mm > 0) j += mm - 1;
          }
          i = stop + 1;
        }
      }
      continue;
    }
    i++;
  }
  return out;
}
