// Diagnostics for humans: file:line:col, the source line, a caret under the problem, a hint.
import { readFileSync, statSync } from 'node:fs';
import { INPUT_LIMITS } from '../load/limits.js';
import type { Diagnostic } from '../model/diagnostics.js';

/** The file's text for an excerpt, if it is a regular file within the size limit (never a FIFO, a device or a huge file). */
function readForExcerpt(file: string): string | undefined {
  try {
    const st = statSync(file);
    return st.isFile() && st.size <= INPUT_LIMITS.fileBytes ? readFileSync(file, 'utf8') : undefined;
  } catch {
    return undefined;
  }
}

/** A long line (generated or minified input) is shown as a window around the column. */
function clip(src: string, col: number): { text: string; col: number } {
  const WIDTH = 120;
  if (src.length <= WIDTH) return { text: src, col };
  const from = Math.max(0, Math.min(col - 1 - WIDTH / 2, src.length - WIDTH));
  const head = from > 0 ? '…' : '';
  return { text: `${head}${src.slice(from, from + WIDTH)}${from + WIDTH < src.length ? '…' : ''}`, col: col - from + head.length };
}

export function formatDiagnostic(d: Diagnostic, sourceText?: string | string[]): string {
  const head = `${d.file}:${d.line}:${d.col}: ${d.severity} [${d.code}] ${d.message}`;
  const lines = [head];
  let text = sourceText;
  if (text === undefined) text = readForExcerpt(d.file);
  const full = (typeof text === 'string' ? text.split('\n') : text)?.[d.line - 1];
  if (full !== undefined) {
    const { text: src, col } = clip(full, d.col);
    const gutter = String(d.line).length;
    lines.push(`${' '.repeat(gutter)} |`);
    lines.push(`${d.line} | ${src.replace(/\t/g, ' ')}`);
    const width = Math.max(1, Math.min(d.length ?? 1, src.length - col + 1));
    lines.push(`${' '.repeat(gutter)} | ${' '.repeat(Math.max(0, col - 1))}${'^'.repeat(width)}`);
  }
  if (d.hint) lines.push(`  hint: ${d.hint}`);
  return lines.join('\n');
}

/** Sorted by file and position so output is stable. */
export function sortDiagnostics(ds: Diagnostic[]): Diagnostic[] {
  return [...ds].sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.col - b.col || a.code.localeCompare(b.code));
}

export function formatDiagnostics(ds: Diagnostic[], texts: Record<string, string> = {}): string {
  const sorted = sortDiagnostics(ds);
  const errors = sorted.filter((d) => d.severity === 'error').length;
  // Each file is split into lines once (per diagnostic, thousands of them made this quadratic).
  const split = new Map<string, string[]>();
  const linesOf = (file: string): string[] | undefined => {
    const t = texts[file];
    if (t === undefined) return undefined;
    if (!split.has(file)) split.set(file, t.split('\n'));
    return split.get(file);
  };
  const body = sorted.map((d) => formatDiagnostic(d, linesOf(d.file))).join('\n\n');
  return `${body}\n\n${errors} error(s), ${sorted.length - errors} warning(s)\n`;
}
