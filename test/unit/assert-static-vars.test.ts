// Regression: `assert: that:` conditions were evaluated only at run time, against the run-time
// scope, so plan-time names (play vars, -e, cluster.*, groups, inventory_hostname) were "not
// defined" — `survivor in cluster.member_names` failed even with -e survivor=etcd-1. compile now
// fills a host's static values into assert conditions, as it does for `when:`.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildPlan } from '../../engine/cli/inputs.js';
import { executePlan } from '../../engine/execute/execute.js';
import { formatDiagnostics } from '../../engine/report/diagnostics-text.js';
import { PACKAGE_ROOT } from '../../engine/package/root.js';
import { EventLog, FakeTransport } from './executor-fakes.js';

async function runAssert(that: string[], extraVars: string[] = []): Promise<{ exitCode: number; messages: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'runbook-assert-'));
  try {
    const pb = join(dir, 'pb.yml');
    writeFileSync(
      pb,
      `- name: p\n  hosts: etcd\n  vars:\n    wanted: etcd-2\n  tasks:\n    - assert:\n        that: ${JSON.stringify(that)}\n      run_once: true\n`,
    );
    const built = buildPlan({ playbook: pb, inventory: join(PACKAGE_ROOT, 'inventories/prod-3-https.yml'), extraVars });
    assert.ok(built.plan, formatDiagnostics(built.diagnostics, built.texts));
    const log = new EventLog();
    const r = await executePlan(built.plan, {
      runId: '20240101T000000Z-abc123',
      startedAt: new Date(),
      forks: 1,
      check: false,
      transports: (h) => new FakeTransport(h),
      emit: log.emit,
      signal: new AbortController().signal,
      secrets: {},
    });
    const messages = log.of('step.end').map((e) => e.result.message ?? '');
    return { exitCode: r.exitCode, messages };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('assert conditions see plan-time names (regression: only run-time names were visible)', () => {
  it('a play var and a cluster fact', async () => {
    const r = await runAssert(['wanted in cluster.member_names']);
    assert.equal(r.exitCode, 0, r.messages.join('\n'));
  });

  it('an extra var (-e survivor=etcd-1), as force-new-cluster.yml had it', async () => {
    const r = await runAssert(['survivor in cluster.member_names'], ['survivor=etcd-1']);
    assert.equal(r.exitCode, 0, r.messages.join('\n'));
  });
});

describe('assert conditions are checked when the plan is built', () => {
  it('an undefined name in `that` is an undefined-variable diagnostic at its position', () => {
    const dir = mkdtempSync(join(tmpdir(), 'runbook-assert-'));
    try {
      const pb = join(dir, 'pb.yml');
      writeFileSync(pb, `- name: p\n  hosts: etcd\n  tasks:\n    - assert:\n        that:\n          - nosuchvar == 1\n`);
      const built = buildPlan({ playbook: pb, inventory: join(PACKAGE_ROOT, 'inventories/prod-3-https.yml') });
      assert.equal(built.plan, undefined);
      const d = built.diagnostics.find((x) => x.code === 'undefined-variable');
      assert.ok(d, JSON.stringify(built.diagnostics));
      assert.equal(d.line, 6);
      assert.equal(d.col, 13);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
