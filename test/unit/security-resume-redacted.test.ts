// --resume and redacted values: the journal stores registered values with secrets masked, so a
// resumed run must not use them. The read-only step that produced one runs again; a value made by a
// step that changes things is refused when a step still to run needs it (issue 12.10).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadResume } from '../../engine/cli/apply.js';
import { buildPlan } from '../../engine/cli/inputs.js';
import type { Io } from '../../engine/model/io.js';
import { executePlan } from '../../engine/execute/execute.js';
import type { Plan } from '../../engine/model/types.js';
import { createReporter } from '../../engine/report/reporters.js';
import { PACKAGE_ROOT } from '../../engine/package/root.js';
import { FakeTransport } from './executor-fakes.js';
import { scratchDirEach } from '../support/scratch.js';

const SECRET = 'hunter2-very-secret';
const RUN_ID = '20240101T000000Z-abcdef';

function playbook(readOnly: boolean): string {
  return `- name: p
  hosts: etcd-1
  tasks:
    - name: read the token
      shell:
        cmd: cat /etc/token
        read_only: ${String(readOnly)}
      register: tok
    - name: something that fails this time
      shell: exit 3
    - name: use the token
      shell: echo {{tok.stdout}} > /tmp/t
`;
}

/** One failed run with a journal; returns the plan and the journal dir. */
async function failedRun(dir: string, readOnly: boolean): Promise<Plan> {
  const pb = join(dir, `pb-${String(readOnly)}.yml`);
  writeFileSync(pb, playbook(readOnly));
  const built = buildPlan({ playbook: pb, inventory: join(PACKAGE_ROOT, 'test/fixtures/good/inventory.yml') });
  assert.ok(built.plan, JSON.stringify(built.diagnostics));
  const io: Io = { out: () => undefined, err: () => undefined, isTTY: false };
  // The token is a secret of the run: the redactor masks it wherever it appears.
  const reporter = await createReporter({ mode: 'json', io, verbose: 0, secrets: [SECRET], journalDir: join(dir, 'runs'), runId: RUN_ID, plan: built.plan });
  const t = new FakeTransport('etcd-1', (cmd) => (cmd.includes('/etc/token') ? { stdout: `${SECRET}\n` } : cmd === 'exit 3' ? { code: 3 } : {}));
  const r = await executePlan(built.plan, {
    runId: RUN_ID,
    startedAt: new Date('2024-01-01T00:00:00Z'),
    forks: 1,
    check: false,
    transports: () => t,
    emit: reporter.emit,
    signal: new AbortController().signal,
    secrets: {},
  });
  await reporter.close();
  assert.equal(r.exitCode, 1);
  return built.plan;
}

describe('resume with values the journal holds redacted', () => {
  let dir: string;
  scratchDirEach('runbook-resume-redacted-', (d) => (dir = d));

  it('[secret-leak] a masked value is not used: the read-only step that registered it runs again', async () => {
    const plan = await failedRun(dir, true);
    const r = loadResume(RUN_ID, join(dir, 'runs'), plan);
    assert.ok(!('refusal' in r), JSON.stringify(r));
    assert.equal(r.done.has('1.1@etcd-1'), false, 'the probe runs again');
    assert.equal(r.registered['etcd-1']?.tok, undefined, 'the masked value is dropped');
    assert.match(r.notes.join('\n'), /step 1\.1@etcd-1 \(read the token\) runs again: the registered value "tok" of etcd-1 is redacted in the journal/);
  });

  it('refuses to resume when the value came from a step that changes things and a later step needs it, saying why', async () => {
    const plan = await failedRun(dir, false);
    const r = loadResume(RUN_ID, join(dir, 'runs'), plan);
    assert.ok('refusal' in r, JSON.stringify(r));
    assert.match(
      r.refusal,
      /refusing to resume run .*: the registered value "tok" of etcd-1 is redacted in the journal \(it held a secret\), a step still to run needs it, and step 1\.1@etcd-1 \(read the token\) that made it changes things/,
    );
  });
});
