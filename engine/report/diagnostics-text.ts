// Diagnostics for humans: file:line:col, the source line, a caret under the problem, a hint.
import { readFileSync } from 'node:fs';
import type { Diagnostic } from '../model/diagnostics.js';

export function formatDiagnostic(d: Diagnostic, sourceText?: string | string[]): string {
  const head = `${d.file}:${d.line}:${d.col}: ${d.severity} [${d.code}] ${d.message}`;
  const lines = [head];
  let text = sourceText;
  if (text === undefined) {
    try {
      text = readFileSync(d.file, 'utf8');
    } catch {
      text = undefined;
    }
  }
  const src = (typeof text === 'string' ? text.split('\n') : text)?.[d.line - 1];
  if (src !== undefined) {
    const gutter = String(d.line).length;
    lines.push(`${' '.repeat(gutter)} |`);
    lines.push(`${d.line} | ${src.replace(/\t/g, ' ')}`);
    const width = Math.max(1, Math.min(d.length ?? 1, src.length - d.col + 1));
    lines.push(`${' '.repeat(gutter)} | ${' '.repeat(Math.max(0, d.col - 1))}${'^'.repeat(width)}`);
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
