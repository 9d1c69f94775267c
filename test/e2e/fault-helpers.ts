// Shared helpers of the fault-injection tests (test/e2e/fault-*.test.ts): faults are injected and
// outcomes verified inside the lab hosts with hostExec (nsenter), never through runbook itself.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { hostExec, type Lab } from '../lab/lab.js';
import { REPO, type CliRun } from './playbook-helpers.js';

export { readRunJournal as readJournalFile, runIdOf, stepEnds } from '../support/journal.js';
export { sleep, waitFor } from '../support/wait.js';

/**
 * TEST STAND-IN: puts `script` at /root/fakebin/NAME on `host`, first on root's PATH through root's
 * private ~/.bashrc (read once per SSH connection, so it applies to runbook's next connections).
 */
export async function installStandIn(lab: Lab, host: string, name: string, script: string): Promise<void> {
  const b64 = Buffer.from(script).toString('base64');
  const r = await hostExec(
    lab,
    host,
    `mkdir -p /root/fakebin && echo ${b64} | base64 -d > /root/fakebin/${name} && chmod 755 /root/fakebin/${name} && echo 'PATH=/root/fakebin:$PATH' > /root/.bashrc`,
    { timeoutMs: 10_000 },
  );
  assert.equal(r.code, 0, r.stderr);
}

/** The text of a TEST STAND-IN script kept in test/fixtures/standins/NAME.sh. */
export function standInScript(name: string): string {
  return readFileSync(path.join(REPO, 'test', 'fixtures', 'standins', `${name}.sh`), 'utf8');
}

/** Removes every stand-in of installStandIn (and root's ~/.bashrc) from `host`. */
export async function removeStandIns(lab: Lab, host: string): Promise<void> {
  await hostExec(lab, host, 'rm -rf /root/fakebin /root/.bashrc', { timeoutMs: 10_000 });
}

/**
 * PIDs of processes inside a lab host whose command line matches the extended regex `pattern`.
 * Write the pattern so that it does not match itself (e.g. `slee[p] 5`): pgrep runs under a
 * `bash -c` whose command line contains it.
 */
export async function hostPids(lab: Lab, host: string, pattern: string): Promise<number[]> {
  const r = await hostExec(lab, host, `pgrep -f -- '${pattern}' || true`, { timeoutMs: 10_000 });
  return r.stdout
    .split('\n')
    .map((s) => Number(s.trim()))
    .filter((n) => Number.isInteger(n) && n > 1);
}

/** Lines of a file inside a host (0 if missing). */
export async function lineCount(lab: Lab, host: string, file: string): Promise<number> {
  const r = await hostExec(lab, host, `cat ${file} 2>/dev/null | wc -l`, { timeoutMs: 10_000 });
  return Number(r.stdout.trim());
}

export type { CliRun };
