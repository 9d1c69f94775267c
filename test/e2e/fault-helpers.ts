// Shared helpers of the fault-injection tests (test/e2e/fault-*.test.ts): faults are injected and
// outcomes verified inside the lab hosts with hostExec (nsenter), never through runbook itself.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { hostExec, type Lab } from '../lab/lab.js';
import type { CliRun, JournalEvent } from './playbook-helpers.js';

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * TEST STAND-IN: puts `script` at /root/fakebin/NAME on `host`, first on root's PATH through root's
 * private ~/.bashrc (read once per SSH connection, so it applies to runbook's next connections).
 */
export async function installStandIn(lab: Lab, host: string, name: string, script: string): Promise<void> {
  const b64 = Buffer.from(script).toString('base64');
  const r = await hostExec(lab, host, `mkdir -p /root/fakebin && echo ${b64} | base64 -d > /root/fakebin/${name} && chmod 755 /root/fakebin/${name} && echo 'PATH=/root/fakebin:$PATH' > /root/.bashrc`, { timeoutMs: 10_000 });
  assert.equal(r.code, 0, r.stderr);
}

/** Removes every stand-in of installStandIn (and root's ~/.bashrc) from `host`. */
export async function removeStandIns(lab: Lab, host: string): Promise<void> {
  await hostExec(lab, host, 'rm -rf /root/fakebin /root/.bashrc', { timeoutMs: 10_000 });
}

/** Poll `fn` until it returns a truthy value; fails after `timeoutMs`. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 15_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/**
 * PIDs of processes inside a lab host whose command line matches the extended regex `pattern`.
 * Write the pattern so that it does not match itself (e.g. `slee[p] 5`): pgrep runs under a
 * `bash -c` whose command line contains it.
 */
export async function hostPids(lab: Lab, host: string, pattern: string): Promise<number[]> {
  const r = await hostExec(lab, host, `pgrep -f -- '${pattern}' || true`, { timeoutMs: 10_000 });
  return r.stdout.split('\n').map((s) => Number(s.trim())).filter((n) => Number.isInteger(n) && n > 1);
}

/** Lines of a file inside a host (0 if missing). */
export async function lineCount(lab: Lab, host: string, file: string): Promise<number> {
  const r = await hostExec(lab, host, `cat ${file} 2>/dev/null | wc -l`, { timeoutMs: 10_000 });
  return Number(r.stdout.trim());
}

export function runIdOf(run: { all: string } | string): string {
  const text = typeof run === 'string' ? run : run.all;
  const id = /run id: (\S+)/.exec(text)?.[1];
  assert.ok(id, `no run id in the output:\n${text}`);
  return id;
}

export function readJournalFile(dir: string, runId: string): (JournalEvent & Record<string, unknown>)[] {
  return readFileSync(path.join(dir, `${runId}.jsonl`), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as JournalEvent & Record<string, unknown>);
}

/** step.end results of a journal, as "host task-index → status". */
export function stepEnds(events: JournalEvent[]): { host: string; stepId: string; status: string; message: string }[] {
  return events
    .filter((e) => e.type === 'step.end')
    .map((e) => ({ host: e.host ?? '', stepId: e.stepId ?? '', status: e.result?.status ?? '', message: e.result?.message ?? '' }));
}

export type { CliRun };
