// Bad input met by `runbook apply` itself (flags, secrets, saved plans, resume ids), beyond the
// files of the corpus: each is refused with exit 2 and a message naming the problem, before any
// host is contacted (the fixture hosts are 10.0.0.x, never reachable here) or any journal written.
import assert from 'node:assert/strict';
import { existsSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../../engine/cli/main.js';
import { EXIT } from '../../engine/model/io.js';
import { captureIo } from '../support/io.js';
import { GOOD } from '../support/fixtures.js';
import { scratchDirEach } from '../support/scratch.js';

const PB = join(GOOD, 'playbook.yml');
const INV = join(GOOD, 'inventory.yml');

describe('bad input at run time (runbook apply)', () => {
  let dir: string;
  scratchDirEach('runbook-bad-runtime-', (d) => (dir = d));

  /** Runs apply with a private journal dir; asserts exit 2, the message, and nothing started. */
  async function refused(args: string[], message: RegExp, env: Record<string, string | undefined> = {}): Promise<void> {
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    for (const [k, v] of Object.entries(env)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    try {
      const io = captureIo();
      const t0 = Date.now();
      const code = await main(['node', 'runbook', 'apply', ...args, '--journal-dir', join(dir, 'runs'), '--yes'], io);
      assert.equal(code, EXIT.INVALID, io.all());
      assert.match(io.all(), message);
      assert.equal(existsSync(join(dir, 'runs')), false, 'no journal: nothing started');
      assert.equal(existsSync(join(dir, 'locks')), false, 'no run lock taken');
      assert.ok(Date.now() - t0 < 5000, 'answered at once (no host contacted)');
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  }

  function withSecret(declared: boolean): { pb: string; inv: string } {
    const pb = join(dir, 'pb.yml');
    writeFileSync(pb, '- name: uses a secret\n  hosts: etcd\n  tasks:\n    - shell: echo {{secrets.db_password}}\n');
    const inv = join(dir, 'inv.yml');
    writeFileSync(inv, `${readFileSync(INV, 'utf8')}${declared ? 'secrets:\n  db_password: {env: RUNBOOK_TEST_UNSET_SECRET}\n' : ''}`);
    return { pb, inv };
  }

  it('[bad-input] --forks 0', () => refused([PB, '-i', INV, '--forks', '0'], /--forks must be a whole number >= 1, got 0/));
  it('[bad-input] --forks not a number', () => refused([PB, '-i', INV, '--forks', 'many'], /--forks must be a whole number >= 1, got NaN/));
  it('[bad-input] --resume with something that is not a run id', () => refused([PB, '-i', INV, '--resume', '../../etc/passwd'], /is not a run id/));
  it('[bad-input] --resume with a run id that has no journal', () =>
    refused([PB, '-i', INV, '--resume', '20240101T000000Z-abcdef'], /cannot read the journal of run 20240101T000000Z-abcdef/));
  it('[bad-input] a secret the playbook needs whose environment variable is not set', () => {
    const f = withSecret(true);
    return refused([f.pb, '-i', f.inv], /secret "db_password": environment variable RUNBOOK_TEST_UNSET_SECRET is not set/, {
      RUNBOOK_TEST_UNSET_SECRET: undefined,
    });
  });
  it('[bad-input] a secret the playbook uses that the inventory does not declare', () => {
    const f = withSecret(false);
    return refused([f.pb, '-i', f.inv], /db_password/);
  });
  it('[bad-input] an unknown --output mode', () => refused([PB, '-i', INV, '--output', 'yaml'], /--output.*yaml.*(not one of|invalid)|Allowed choices/i));
  it('[bad-input] a playbook without -i', () => refused([PB], /needs -i INVENTORY/));
  it('[bad-input] a playbook file that does not exist', () => refused([join(dir, 'nope.yml'), '-i', INV], /nope\.yml/));
  it('[bad-input] a saved plan that is not a plan', () => {
    const plan = join(dir, 'plan.json');
    writeFileSync(plan, '{"format": "something-else"}');
    return refused([plan], /plan\.json/);
  });
});
