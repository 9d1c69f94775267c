// The snapshot transfer strategy restore-all plans: relay between members only where etcd's own peer
// traffic is plain (http); on a TLS cluster parallel copies over SSH unless the operator asks for the
// relay (-e transfer=relay). A snapshot holds every Secret: it must not travel less protected than etcd's data.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { buildPlan } from '../../engine/cli/inputs.js';
import { PACKAGE_ROOT } from '../../engine/package/root.js';
import type { Plan } from '../../engine/model/types.js';

function distributePut(plan: Plan): { relay?: unknown } | undefined {
  for (const p of plan.plays)
    for (const t of p.tasks) for (const s of t.steps) for (const a of s.actions) if (a.kind === 'put' && a.dest.includes('/restore-')) return a;
  return undefined;
}

describe('restore-all: the snapshot transfer strategy follows the cluster scheme', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'runbook-strategy-'));
  const https = path.join(PACKAGE_ROOT, 'inventories', 'prod-3-https.yml');
  const http = path.join(dir, 'http.yml');
  before(() => {
    const text = readFileSync(https, 'utf8')
      .replace(/^ {2}scheme: https$/m, '  scheme: http')
      .replace(/^ {2}tls:\n(?: {4}.*\n)+/m, '')
      .replace(/: \.\//g, `: ${path.dirname(https)}/`);
    writeFileSync(http, text);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const plan = (inv: string, extra: string[] = []): Plan => {
    const r = buildPlan({ playbook: 'restore-all', inventory: inv, extraVars: extra });
    assert.ok(r.plan, JSON.stringify(r.diagnostics));
    return r.plan;
  };

  it('https (TLS between members): parallel copies over SSH by default', () => {
    const put = distributePut(plan(https));
    assert.ok(put, 'restore-all puts the snapshot');
    assert.equal(put.relay, undefined);
  });

  it('https with -e transfer=relay: the relay, as asked', () => {
    assert.notEqual(distributePut(plan(https, ['transfer=relay']))?.relay, undefined);
  });

  it('http (etcd peer traffic is plain already): the relay by default', () => {
    assert.notEqual(distributePut(plan(http))?.relay, undefined);
  });
});
