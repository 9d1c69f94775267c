// Saved plans (engine/cli/saved-plan.ts): loading with format/version checks, and the freshness
// check `apply plan.json` uses to refuse a stale plan (its inputs changed since it was written).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildPlan } from '../../engine/cli/inputs.js';
import { planToApply } from '../../engine/cli/apply.js';
import { EXIT } from '../../engine/model/io.js';
import { checkPlanFreshness, describeStale, isSavedPlanPath, loadSavedPlan } from '../../engine/cli/saved-plan.js';
import { stableStringify } from '../../engine/report/stable-json.js';
import { PACKAGE_ROOT } from '../../engine/package/root.js';
import { captureIo } from '../support/io.js';

const INVENTORY = readFileSync(join(PACKAGE_ROOT, 'test/fixtures/good/inventory.yml'), 'utf8');
const PLAYBOOK = `
- name: Configure
  hosts: etcd
  tasks:
    - name: Write the environment file
      template:
        src: templates/env.hbs
        dest: /etc/etcd/env
    - name: Greet
      shell: echo {{greeting}} {{extra}}
`;

describe('saved plans', () => {
  let dir: string;
  const cwd = process.cwd();
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'runbook-saved-plan-'));
    process.chdir(dir);
    mkdirSync('templates');
    writeFileSync('templates/env.hbs', 'NAME={{member.name}}\n');
    writeFileSync('pb.yml', PLAYBOOK);
    writeFileSync('inv.yml', INVENTORY);
    writeFileSync('vars.yml', 'extra: from-a-file\n');
  });
  afterEach(() => {
    process.chdir(cwd);
    rmSync(dir, { recursive: true, force: true });
  });

  function savePlan(extraVars = ['@vars.yml', 'greeting=hi']): string {
    const r = buildPlan({ playbook: 'pb.yml', inventory: 'inv.yml', extraVars });
    assert.ok(r.plan, JSON.stringify(r.diagnostics, null, 2));
    writeFileSync('plan.json', stableStringify(r.plan));
    return 'plan.json';
  }

  it('records every input with its sha256: playbook, inventory, the template source, -e @file, inline -e', () => {
    const loaded = loadSavedPlan(savePlan());
    assert.ok(loaded.plan, JSON.stringify(loaded.diagnostics));
    assert.deepEqual(
      loaded.plan.inputs.map((i) => [i.role, i.path, i.sha256.length]),
      [
        ['extra-vars', '-e', 64],
        ['file', 'templates/env.hbs', 64],
        ['file', 'vars.yml', 64],
        ['inventory', 'inv.yml', 64],
        ['playbook', 'pb.yml', 64],
      ],
    );
    assert.deepEqual(checkPlanFreshness(loaded.plan).stale, []);
  });

  it('a stale plan names each changed or missing input; inline -e values need no check', () => {
    const loaded = loadSavedPlan(savePlan());
    assert.ok(loaded.plan);
    writeFileSync('inv.yml', INVENTORY.replace('10.0.0.3', '10.0.0.33'));
    writeFileSync('templates/env.hbs', 'NAME={{member.name}}\nMORE=1\n');
    rmSync('vars.yml');
    const f = checkPlanFreshness(loaded.plan);
    assert.deepEqual(
      f.stale.map((s) => [s.role, s.path, s.actual === 'missing' ? 'missing' : s.actual === s.expected ? 'same' : 'changed']),
      [
        ['file', 'templates/env.hbs', 'changed'],
        ['file', 'vars.yml', 'missing'],
        ['inventory', 'inv.yml', 'changed'],
      ],
    );
    const msg = describeStale('plan.json', f);
    assert.match(msg, /^refusing to apply plan\.json: it is stale/);
    assert.match(msg, /\n {2}inventory inv\.yml: changed \(sha256 [0-9a-f]{12} → [0-9a-f]{12}\)\n/);
    assert.match(msg, /\n {2}file vars\.yml: missing/);
    // Paths are relative to where `runbook plan` ran: checked from elsewhere, pass that directory.
    process.chdir(tmpdir());
    assert.equal(checkPlanFreshness(loaded.plan, { cwd: dir }).stale.length, 3);
  });

  it('refuses what is not a runbook-plan/1 document, with a code and a position', () => {
    const check = (name: string, text: string | undefined, code: string, message: RegExp, line = 1): void => {
      if (text !== undefined) writeFileSync(name, text);
      const r = loadSavedPlan(name);
      assert.equal(r.plan, undefined);
      assert.deepEqual(
        r.diagnostics.map((d) => [d.code, d.line]),
        [[code, line]],
      );
      assert.match(r.diagnostics[0]?.message ?? '', message);
    };
    check('missing.json', undefined, 'file-not-found', /does not exist/);
    check('bad.json', '{\n  "format": "runbook-plan",\n  oops\n}', 'plan-unreadable', /not valid JSON/, 3);
    check('other.json', '{"format": "something-else"}', 'plan-format', /not a runbook plan \(format "something-else"\)/);
    check('list.json', '[]', 'plan-format', /not a runbook plan/);
    check('v2.json', '{"format": "runbook-plan", "version": 2}', 'plan-format', /version 2 plan; this runbook reads version 1/);
    const plan = JSON.parse(readFileSync(savePlan(), 'utf8')) as Record<string, unknown>;
    check('noplays.json', JSON.stringify({ ...plan, plays: undefined }), 'plan-format', /not a valid runbook plan: \/ must have required property 'plays'/);
    const broken = JSON.parse(JSON.stringify(plan)) as { plays: { tasks: { steps: unknown[] }[] }[] };
    if (broken.plays[0]?.tasks[0]) broken.plays[0].tasks[0].steps = [{ host: 'etcd-1' }];
    check('nosteps.json', JSON.stringify(broken), 'plan-format', /\/plays\/0\/tasks\/0\/steps\/0 must have required property 'id'/);
    const extraKey = JSON.parse(JSON.stringify(plan)) as { plays: { tasks: { steps: { actions: Record<string, unknown>[] }[] }[] }[] };
    const a0 = extraKey.plays[0]?.tasks[0]?.steps[0]?.actions[0];
    if (a0) a0.sudo = true;
    check('extra.json', JSON.stringify(extraKey), 'plan-format', /not a valid runbook plan/);
  });

  it("apply compiles a saved plan's recorded inputs again (with its -e values) and accepts it unchanged", () => {
    const io = captureIo();
    const r = planToApply(savePlan(), {}, io);
    assert.ok('plan' in r, io.stderr());
    assert.deepEqual(r.plan.extraVars, ['@vars.yml', 'greeting=hi']);
  });

  it('apply refuses a saved plan whose command was edited after it was written (exit 4), naming where', () => {
    const file = savePlan();
    const plan = JSON.parse(readFileSync(file, 'utf8')) as { plays: { tasks: { steps: { actions: { cmd?: string }[] }[] }[] }[] };
    const greet = plan.plays[0]?.tasks[1]?.steps[0]?.actions[0];
    if (!greet?.cmd?.startsWith('echo hi')) assert.fail(`unexpected first action: ${JSON.stringify(greet)}`);
    greet.cmd = 'echo hi; touch /tmp/edited';
    writeFileSync(file, JSON.stringify(plan));
    const io = captureIo();
    const r = planToApply(file, {}, io);
    assert.deepEqual(r, { code: EXIT.REFUSED });
    assert.match(
      io.stderr(),
      /refusing to apply plan\.json: it is not the plan its inputs compile to \(first difference at plays\[0\]\.tasks\[1\]\.steps\[0\]\.actions\[0\]\.cmd\)/,
    );
  });

  it('a saved plan is a .json path', () => {
    assert.equal(isSavedPlanPath('plan.json'), true);
    assert.equal(isSavedPlanPath('restore-all.yml'), false);
    assert.equal(isSavedPlanPath('restore-all'), false);
  });
});
