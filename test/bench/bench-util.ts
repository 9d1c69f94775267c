// Shared helpers for the benchmarks: timing, medians, child processes, the bench lab's place, tables.
// Nothing here asserts a time.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { main } from '../../engine/cli/main.js';
import type { Io } from '../../engine/model/io.js';
import { PACKAGE_ROOT } from '../../engine/package/root.js';

/** The benchmarks' own lab: never the tests' dirs or addresses (tests use 127.0.0.11-90). */
export const BENCH_LAB_DIR = join(PACKAGE_ROOT, '.runbook/lab-bench');
export const BENCH_FIRST_OCTET = 101;
export const RUNBOOK_BIN = join(PACKAGE_ROOT, 'bin/runbook.js');

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return 0;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

/** Write `size` random bytes to `path` (mode 0600), in 4 MiB chunks; returns their sha256 (hex). */
export function makeRandomFile(path: string, size: number): string {
  const hash = createHash('sha256');
  const fd = openSync(path, 'w', 0o600);
  try {
    const chunk = 4 * 1024 * 1024;
    for (let done = 0; done < size; done += chunk) {
      const b = randomBytes(Math.min(chunk, size - done));
      hash.update(b);
      writeSync(fd, b);
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = nowMs();
  await fn();
  return nowMs() - t0;
}

/**
 * CPU time the whole machine has spent busy (all processes, kernel included) since boot, in ms,
 * from /proc/stat (USER_HZ = 100 on Linux). The difference across a run says whether the run was
 * bound by the machine's cores rather than by waiting.
 */
export function machineBusyMs(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const [, user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).map(Number);
  return (user + nice + system + irq + softirq + steal) * 10;
}

export const CORES = availableParallelism();

export interface ChildResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * Run a program; wall time from spawn to exit. stdout is drained (kept only up to `keep` bytes:
 * a JSON event stream is a sink here), stderr kept for error messages. Killed (by its own PID)
 * after `timeoutMs`.
 */
export function runChild(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; keep?: number } = {},
): Promise<ChildResult> {
  const keep = opts.keep ?? 64 * 1024;
  return new Promise((resolve, reject) => {
    const t0 = nowMs();
    const child = spawn(cmd, args, { cwd: opts.cwd ?? PACKAGE_ROOT, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      if (stdout.length < keep) stdout += s;
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      if (stderr.length < 256 * 1024) stderr += s;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 300_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: nowMs() - t0 });
    });
  });
}

/** Like runChild, but a non-zero exit is an error (with the tail of stderr/stdout). */
export async function mustRunChild(what: string, cmd: string, args: string[], opts: Parameters<typeof runChild>[2] = {}): Promise<ChildResult> {
  const r = await runChild(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${what} exited ${String(r.code)}:\n${(r.stderr || r.stdout).trim().split('\n').slice(-15).join('\n')}`);
  return r;
}

/** `runbook …` as users run it: a fresh Node process of bin/runbook.js. */
export function runbookChild(args: string[], timeoutMs = 300_000): Promise<ChildResult> {
  return mustRunChild(`runbook ${args.join(' ')}`, process.execPath, [RUNBOOK_BIN, ...args], { timeoutMs });
}

/** `runbook …` in this process through main(argv, io): stdout to a sink, stderr kept for errors. */
export async function runbookInProcess(args: string[]): Promise<number> {
  let err = '';
  const io: Io = { out: () => undefined, err: (s) => void (err.length < 256 * 1024 ? (err += s) : undefined), isTTY: false };
  const t0 = nowMs();
  const code = await main(['node', 'runbook', ...args], io);
  const ms = nowMs() - t0;
  if (code !== 0) throw new Error(`runbook ${args.join(' ')} (in-process) exited ${code}:\n${err.trim().split('\n').slice(-15).join('\n')}`);
  return ms;
}

export function fmtMs(ms: number): string {
  return ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toFixed(0)} ms`;
}

export function fmtRatio(r: number): string {
  return Number.isFinite(r) ? `${r.toFixed(2)}×` : 'n/a';
}

/** Left-aligned first column, right-aligned others. */
export function table(head: string[], rows: string[][], indent = '  '): string[] {
  const all = [head, ...rows];
  const widths = head.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string =>
    indent +
    r
      .map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(head), indent + widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
}

export function verdict(met: boolean): string {
  return met ? 'met' : 'NOT met';
}
