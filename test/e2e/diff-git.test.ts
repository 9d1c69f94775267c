// runbook diff --base on a throwaway git repository: the shipped playbooks and example inventories
// (plus a small inventory and playbook of our own) committed, then one commit per kind of change a
// pull request brings. Each case checks out its commit and diffs it against the one before, in all
// three formats, through the real CLI entry point. Golden markdown (what a PR comment shows) is in
// test/golden/diff/; regenerate with UPDATE_GOLDEN=1 and read it as a reviewer would.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../engine/cli/main.js';
import { checkPlanFreshness, loadSavedPlan } from '../../engine/cli/saved-plan.js';
import { PACKAGE_ROOT } from '../../engine/package/root.js';
import { stableStringify } from '../../engine/report/stable-json.js';
import type { PlanDiff } from '../../engine/diff/model.js';
import { captureIo } from '../support/io.js';

const GOLDEN = join(PACKAGE_ROOT, 'test', 'golden', 'diff');
const SECRET = 'hunter2-s3cr3t-value';
const SECRET_ENV = 'RUNBOOK_DIFF_TEST_SECRET';

const SMALL_INVENTORY = `# A small inventory for the diff tests (never contacted).
cluster:
  name: small
  etcd_version: "3.5.17"
  deployment: systemd
  scheme: http
hosts:
  etcd-1:
    address: 10.9.0.1
  etcd-2:
    address: 10.9.0.2
  etcd-3:
    address: 10.9.0.3
groups:
  etcd:
    hosts: [etcd-1, etcd-2, etcd-3]
vars:
  note: nothing to see
secrets:
  api_token: {env: ${SECRET_ENV}}
`;

const SMALL_PLAYBOOK = `# Writes an environment file from a template and prints a note.
- name: Configure members
  hosts: etcd
  tasks:
    - name: Write the environment file
      template:
        src: templates/etcd.env.hbs
        dest: /etc/etcd/etcd.env
        mode: "0640"

    - name: Print the note
      shell:
        cmd: echo {{note}}
        read_only: true
`;

const TEMPLATE = 'ETCD_NAME={{member.name}}\nETCD_INITIAL_CLUSTER={{cluster.initial_cluster}}\nETCD_HEARTBEAT_INTERVAL=100\n';

interface Run {
  code: number;
  out: string;
  err: string;
}

async function cli(cwd: string, args: string[], tty = false): Promise<Run> {
  const io = captureIo({ isTTY: tty });
  const prev = process.cwd();
  process.chdir(cwd);
  try {
    const code = await main(['node', 'runbook', ...args], io);
    return { code, out: io.stdout(), err: io.stderr() };
  } finally {
    process.chdir(prev);
  }
}

function golden(name: string, text: string): void {
  const file = join(GOLDEN, name);
  if (process.env.UPDATE_GOLDEN === '1' || !existsSync(file)) {
    mkdirSync(GOLDEN, { recursive: true });
    writeFileSync(file, text);
    if (process.env.UPDATE_GOLDEN !== '1') assert.fail(`wrote new golden file diff/${name}: review it and commit it`);
  }
  assert.equal(text, readFileSync(file, 'utf8'), `differs from test/golden/diff/${name} (UPDATE_GOLDEN=1 to accept, then review the diff)`);
}

function edit(repo: string, file: string, fn: (s: string) => string): void {
  const path = join(repo, file);
  const before = readFileSync(path, 'utf8');
  const after = fn(before);
  assert.notEqual(after, before, `edit of ${file} changed nothing`);
  writeFileSync(path, after);
}

describe('runbook diff --base on a git repository', function () {
  let repo = '';
  const commits: Record<string, string> = {};
  const git = (...args: string[]): string => execFileSync('git', args, { cwd: repo, encoding: 'utf8' }).trim();
  const commit = (name: string): void => {
    git('add', '-A');
    git('commit', '-q', '-m', name);
    commits[name] = git('rev-parse', 'HEAD');
  };
  const at = (name: string): void => void git('checkout', '-q', commits[name] ?? name);
  /** diff the commit `name` (checked out) against `base`, in one format. */
  const diff = (name: string, base: string, playbook: string, inventory: string, format: string, extra: string[] = []): Promise<Run> => {
    at(name);
    return cli(repo, ['diff', '--base', commits[base] ?? base, playbook, '-i', inventory, '--format', format, ...extra]);
  };
  /** Same, with the base named by its commit message in the output (stable goldens). */
  const diffNamed = async (name: string, base: string, playbook: string, inventory: string, format: string, extra: string[] = []): Promise<Run> => {
    at(name);
    git('branch', '-f', base, commits[base] ?? base);
    return cli(repo, ['diff', '--base', base, playbook, '-i', inventory, '--format', format, ...extra]);
  };

  before(function () {
    repo = realpathSync(mkdtempSync(join(tmpdir(), 'runbook-diff-git-')));
    git('init', '-q', '-b', 'main');
    git('config', 'user.email', 'test@example.invalid');
    git('config', 'user.name', 'runbook test');
    git('config', 'commit.gpgsign', 'false');
    cpSync(join(PACKAGE_ROOT, 'playbooks'), join(repo, 'playbooks'), { recursive: true });
    cpSync(join(PACKAGE_ROOT, 'inventories'), join(repo, 'inventories'), { recursive: true });
    writeFileSync(join(repo, 'inventories', 'small.yml'), SMALL_INVENTORY);
    writeFileSync(join(repo, 'playbooks', 'configure.yml'), SMALL_PLAYBOOK);
    mkdirSync(join(repo, 'playbooks', 'templates'));
    writeFileSync(join(repo, 'playbooks', 'templates', 'etcd.env.hbs'), TEMPLATE);
    writeFileSync(join(repo, '.gitignore'), '*.json\n');
    commit('base');

    // (1) A member replaced: etcd-3 leaves, etcd-4 (a new address) joins.
    edit(repo, 'inventories/prod-3-https.yml', (s) =>
      s.replace('  etcd-3:\n    address: 10.0.1.13\n', '  etcd-4:\n    address: 10.0.1.14\n').replace('[etcd-1, etcd-2, etcd-3]', '[etcd-1, etcd-2, etcd-4]'),
    );
    commit('replace-member');

    // (2) A flag changed in a playbook: defrag gets more time (module arg → --command-timeout, task timeout).
    edit(repo, 'playbooks/compact-defrag.yml', (s) =>
      s.replace(
        'op: defrag_all\n        timeout: 300\n      run_once: true\n      timeout: 1800',
        'op: defrag_all\n        timeout: 600\n      run_once: true\n      timeout: 3600',
      ),
    );
    commit('defrag-timeout');

    // (3) A pure reorder: the hosts mapping reversed, and etcd-2/etcd-4 swapped in the etcd group.
    edit(repo, 'inventories/prod-3-https.yml', (s) => {
      const hosts = /hosts:\n((?: {2}\S+:\n {4}address: \S+\n)+)/.exec(s);
      const entries = hosts?.[1]?.match(/ {2}\S+:\n {4}address: \S+\n/g) ?? [];
      assert.equal(entries.length, 5);
      return s.replace(hosts?.[1] ?? '', [...entries].reverse().join('')).replace('[etcd-1, etcd-2, etcd-4]', '[etcd-1, etcd-4, etcd-2]');
    });
    commit('reorder');

    // The client certificate moves: every etcdctl command on every member changes the same way.
    edit(repo, 'inventories/prod-3-https.yml', (s) =>
      s.replace(
        'cert: /etc/etcd/pki/etcdctl.crt\n    key: /etc/etcd/pki/etcdctl.key',
        'cert: /etc/etcd/pki/etcdctl-2027.crt\n    key: /etc/etcd/pki/etcdctl-2027.key',
      ),
    );
    commit('cert-rotation');

    // The first etcd member moves: run_once tasks now run on another host (a real change).
    edit(repo, 'inventories/prod-3-https.yml', (s) => s.replace('[etcd-1, etcd-4, etcd-2]', '[etcd-4, etcd-1, etcd-2]'));
    commit('first-member');

    // The small inventory: a template change, and a note that happens to equal a secret's value.
    edit(repo, 'playbooks/templates/etcd.env.hbs', (s) => s.replace('ETCD_HEARTBEAT_INTERVAL=100', 'ETCD_HEARTBEAT_INTERVAL=250'));
    commit('template');
    edit(repo, 'inventories/small.yml', (s) => s.replace('note: nothing to see', `note: ${SECRET}`));
    commit('secret-note');

    // A playbook that no longer compiles.
    edit(repo, 'playbooks/configure.yml', (s) => s.replace('echo {{note}}', 'echo {{nope}}'));
    commit('broken');
  });

  after(function () {
    if (repo) rmSync(repo, { recursive: true, force: true });
  });

  describe('(1) a member replaced in the inventory (etcd-3 → etcd-4)', function () {
    const args = ['playbooks/restore-all.yml', 'inventories/prod-3-https.yml'] as const;

    it('text: the --initial-cluster change on etcd-1 and etcd-2 is shown once, members added/removed named; exit 3', async () => {
      const r = await diff('replace-member', 'base', ...args, 'text');
      assert.equal(r.code, 3, r.err);
      const lines = r.out.split('\n');
      assert.match(lines[0] ?? '', /^restore-all on prod: 4 hosts, \d+ steps changed/);
      assert.ok(lines.includes('  hosts: +etcd-4 −etcd-3'), r.out);
      // Grouping: the identical change on etcd-1 and etcd-2 is one entry with the host list.
      const restore = r.out.slice(r.out.indexOf('TASK 3.3'));
      // The group line carries the step's intent; the changed commands follow below it.
      assert.match(restore, /\n {4}~ etcd-1, etcd-2 {2}\(shown for etcd-1\): etcd_snapshot restore: restore [^\n]* as this member [^\n]*\n/);
      assert.equal(
        restore.split('--initial-cluster: +etcd-4=https://10.0.1.14:2380  −etcd-3=https://10.0.1.13:2380').length - 1,
        2,
        'once for the group, once for etcd-3 → etcd-4',
      );
      assert.match(restore, /~ etcd-3 → etcd-4 {2}\(replaced host\)[\s\S]*--name: etcd-3 → etcd-4/);
      assert.match(r.out, /--endpoints: \+https:\/\/10\.0\.1\.14:2379 {2}−https:\/\/10\.0\.1\.13:2379/);
      // Unchanged parts are collapsed, and no colour codes when not on a terminal.
      assert.match(r.out, /… 2 unchanged tasks/);
      assert.ok(!r.out.includes('\x1b['));
    });

    it('text on a terminal: coloured, changed members in reverse video', async () => {
      at('replace-member');
      const r = await cli(repo, ['diff', '--base', commits.base ?? '', args[0], '-i', args[1]], true);
      assert.equal(r.code, 3);
      assert.ok(r.out.includes('\x1b[31m- $ etcdutl snapshot restore'), 'removed lines red');
      assert.ok(r.out.includes('\x1b[7metcd-4=https://10.0.1.14:2380\x1b[27m'), 'the added member highlighted');
      assert.ok(r.out.includes('\x1b[7metcd-3=https://10.0.1.13:2380\x1b[27m'), 'the removed member highlighted');
    });

    it('markdown: summary line first, one <details> per changed play, ```diff fences (golden)', async () => {
      const r = await diffNamed('replace-member', 'base', ...args, 'markdown');
      assert.equal(r.code, 3, r.err);
      assert.match(r.out.split('\n')[0] ?? '', /^\*\*restore-all on prod: 4 hosts, \d+ steps changed/);
      // One <details> per changed play; inside, each changed step with an intent has its commands collapsed.
      assert.equal(r.out.split('<details>\n<summary>PLAY').length - 1, 4);
      assert.equal(r.out.split('<details><summary>commands</summary>').length - 1, 7); // one per changed step: the certificate check on the new member too
      assert.ok(r.out.includes('```diff\n- $ etcdutl snapshot restore'));
      assert.ok(r.out.includes('`--initial-cluster`: +`etcd-4=https://10.0.1.14:2380`  −`etcd-3=https://10.0.1.13:2380`'));
      golden('replace-member--restore-all.md', r.out);
    });

    it('json: stable, sorted keys; the grouped step names both hosts and the member set change', async () => {
      const r = await diff('replace-member', 'base', ...args, 'json');
      assert.equal(r.code, 3);
      assert.equal(stableStringify(JSON.parse(r.out)), r.out);
      const d = JSON.parse(r.out) as PlanDiff;
      assert.equal(d.format, 'runbook-diff');
      assert.equal(d.changed, true);
      assert.deepEqual(d.summary.hosts, ['etcd-1', 'etcd-2', 'etcd-3', 'etcd-4']);
      const task = d.plays.find((p) => p.index === 3)?.tasks.find((t) => t.index === 3);
      const group = task?.steps.find((g) => g.status === 'modified');
      assert.deepEqual(group?.hosts, ['etcd-1', 'etcd-2']);
      const word = group?.actions[0]?.lines[0]?.words[0];
      assert.equal(word?.key, '--initial-cluster');
      assert.deepEqual(word?.added, ['etcd-4=https://10.0.1.14:2380']);
      assert.deepEqual(word?.removed, ['etcd-3=https://10.0.1.13:2380']);
      const swap = task?.steps.find((g) => g.status === 'replaced');
      assert.deepEqual([swap?.was, swap?.hosts], [['etcd-3'], ['etcd-4']]);
    });
  });

  describe('(2) a flag changed in a playbook (defrag --command-timeout and the task timeout)', function () {
    const args = ['playbooks/compact-defrag.yml', 'inventories/prod-3-https.yml'] as const;

    it('text: the task timeout and each --command-timeout word change; exit 3', async () => {
      const r = await diff('defrag-timeout', 'replace-member', ...args, 'text');
      assert.equal(r.code, 3, r.err);
      assert.equal(r.out.split('\n')[0], 'compact-defrag on prod: 1 host, 1 step changed (1 modified)');
      assert.ok(r.out.includes('    timeout: 1800s → 3600s'));
      assert.equal(r.out.split('--command-timeout: 300s → 600s').length - 1, 3, 'one per defrag command (3 members)');
      assert.match(r.out, /… 2 unchanged tasks\n/);
      assert.match(r.out, /… 4 unchanged tasks\n/);
    });

    it('markdown (golden) and json', async () => {
      const md = await diffNamed('defrag-timeout', 'replace-member', ...args, 'markdown');
      assert.equal(md.code, 3);
      assert.equal(md.out.split('\n')[0], '**compact-defrag on prod: 1 host, 1 step changed (1 modified)**');
      golden('defrag-timeout--compact-defrag.md', md.out);
      const js = await diff('defrag-timeout', 'replace-member', ...args, 'json');
      const d = JSON.parse(js.out) as PlanDiff;
      const task = d.plays[0]?.tasks[0];
      assert.deepEqual(task?.fields, [{ field: 'timeout', old: '1800s', new: '3600s' }]);
      const words = task?.steps[0]?.actions.flatMap((a) => a.lines.flatMap((l) => l.words)) ?? [];
      assert.deepEqual(
        words.map((w) => [w.key, w.old, w.new]),
        Array.from({ length: 3 }, () => ['--command-timeout', '--command-timeout=300s', '--command-timeout=600s']),
      );
    });

    it('the other playbooks did not change: exit 0', async () => {
      const r = await diff('defrag-timeout', 'replace-member', 'playbooks/backup.yml', 'inventories/prod-3-https.yml', 'text');
      assert.equal(r.code, 0, r.out);
      assert.equal(r.out.split('\n')[0], 'backup on prod: no changes');
    });
  });

  describe('(3) a pure reorder of hosts (mapping order) and of the etcd group', function () {
    for (const pb of ['restore-all', 'backup', 'compact-defrag', 'restore-all-no-backup']) {
      for (const format of ['text', 'markdown', 'json']) {
        it(`${pb}, ${format}: no change, exit 0`, async () => {
          const r = await diff('reorder', 'defrag-timeout', `playbooks/${pb}.yml`, 'inventories/prod-3-https.yml', format);
          assert.equal(r.code, 0, r.out);
          if (format === 'json') {
            const d = JSON.parse(r.out) as PlanDiff;
            assert.equal(d.changed, false);
            assert.deepEqual(d.plays, []);
            // The inventory file did change (its sha256), which is recorded but is not a change.
            assert.notEqual(d.old.inputs.find((i) => i.role === 'inventory')?.sha256, d.new.inputs.find((i) => i.role === 'inventory')?.sha256);
          } else assert.match(r.out.split('\n')[0] ?? '', new RegExp(`^(\\*\\*)?${pb} on prod: no changes(\\*\\*)?$`));
        });
      }
    }

    it('force-new-cluster re-adds members one at a time: the serial batch order is reported', async () => {
      const r = await diff('reorder', 'defrag-timeout', 'playbooks/force-new-cluster.yml', 'inventories/prod-3-https.yml', 'text', ['-e', 'survivor=etcd-1']);
      assert.equal(r.code, 3, r.out);
      assert.equal(r.out.split('\n')[0], 'force-new-cluster on prod: 1 setting changed');
      assert.ok(r.out.includes('serial batches: etcd-1 | etcd-2 | etcd-4 → etcd-1 | etcd-4 | etcd-2'), r.out);
    });

    it('moving the first etcd member changes which host runs the run_once tasks: reported', async () => {
      const r = await diff('first-member', 'cert-rotation', 'playbooks/restore-all.yml', 'inventories/prod-3-https.yml', 'text');
      assert.equal(r.code, 3, r.out);
      assert.match(r.out, /TASK 1\.2 · Refuse while a quorum [^\n]* — etcd-1 → etcd-4: same steps/);
      assert.ok(!r.out.includes('--initial-cluster'), 'the member list order is not a change');
    });
  });

  describe('identical changes across hosts', function () {
    it('a rotated client certificate: every member changes the same way, shown once (golden)', async () => {
      const r = await diffNamed('cert-rotation', 'reorder', 'playbooks/restore-all.yml', 'inventories/prod-3-https.yml', 'markdown');
      assert.equal(r.code, 3, r.err);
      assert.equal(r.out.split('\n')[0], '**restore-all on prod: 3 hosts, 8 steps changed (8 modified)**');
      assert.match(r.out, /`etcd-1`, `etcd-2`, `etcd-4` \(shown for `etcd-1`\)/);
      golden('cert-rotation--restore-all.md', r.out);
      const text = await diff('cert-rotation', 'reorder', 'playbooks/restore-all.yml', 'inventories/prod-3-https.yml', 'text');
      assert.match(text.out, /~ etcd-1, etcd-2, etcd-4 {2}\(shown for etcd-1\)/);
      assert.equal(
        text.out.split('--cert: /etc/etcd/pki/etcdctl.crt → /etc/etcd/pki/etcdctl-2027.crt').length - 1,
        7,
        'each changed command names the changed flag',
      );
    });
  });

  describe('template sources', function () {
    it('a template changed at the base revision shows as the changed file content, on every host at once', async () => {
      const r = await diff('template', 'first-member', 'playbooks/configure.yml', 'inventories/small.yml', 'text');
      assert.equal(r.code, 3, r.err);
      assert.match(r.out, /~ etcd-1, etcd-2, etcd-3 {2}\(shown for etcd-1\)/);
      assert.ok(r.out.includes('-   | ETCD_HEARTBEAT_INTERVAL=100'));
      assert.ok(r.out.includes('+   | ETCD_HEARTBEAT_INTERVAL=250'));
      const js = JSON.parse((await diff('template', 'first-member', 'playbooks/configure.yml', 'inventories/small.yml', 'json')).out) as PlanDiff;
      const tpl = (d: PlanDiff['old']): string | undefined => d.inputs.find((i) => i.path === 'playbooks/templates/etcd.env.hbs')?.sha256;
      assert.ok(tpl(js.old) && tpl(js.new) && tpl(js.old) !== tpl(js.new), 'the template is a recorded input on both sides');
    });
  });

  describe('secrets', function () {
    let saved: string | undefined;
    before(() => {
      saved = process.env[SECRET_ENV];
      process.env[SECRET_ENV] = SECRET;
    });
    after(() => {
      if (saved === undefined) delete process.env[SECRET_ENV];
      else process.env[SECRET_ENV] = saved;
    });

    for (const format of ['text', 'markdown', 'json']) {
      it(`a secret given through the environment never shows up (${format})`, async () => {
        const r = await diff('secret-note', 'template', 'playbooks/configure.yml', 'inventories/small.yml', format);
        assert.equal(r.code, 3, r.err);
        assert.ok(!r.out.includes(SECRET) && !r.err.includes(SECRET), r.out);
        assert.ok(r.out.includes('******'), r.out);
      });
    }

    it('on a terminal too (highlights cannot split it)', async () => {
      at('secret-note');
      const r = await cli(repo, ['diff', '--base', commits.template ?? '', 'playbooks/configure.yml', '-i', 'inventories/small.yml'], true);
      assert.ok(!r.out.includes(SECRET) && !r.out.includes('s3cr3t'), r.out);
    });
  });

  describe('invalid input', function () {
    it('a side that does not compile: its diagnostics, exit 2', async () => {
      const r = await diff('broken', 'secret-note', 'playbooks/configure.yml', 'inventories/small.yml', 'text');
      assert.equal(r.code, 2);
      assert.equal(r.out, '');
      assert.match(r.err, /the new side \(working tree\) does not load/);
      assert.match(r.err, /\[undefined-variable\]/);
    });

    it('an unknown revision, a file new on this branch, a missing -i: exit 2', async () => {
      at('broken');
      const unknown = await cli(repo, ['diff', '--base', 'no-such-ref', 'playbooks/backup.yml', '-i', 'inventories/small.yml']);
      assert.equal(unknown.code, 2);
      assert.match(unknown.err, /\[git-error\]/);
      writeFileSync(join(repo, 'inventories', 'new.yml'), SMALL_INVENTORY);
      try {
        const fresh = await cli(repo, ['diff', '--base', commits.base ?? '', 'playbooks/backup.yml', '-i', 'inventories/new.yml']);
        assert.equal(fresh.code, 2);
        assert.match(fresh.err, /\[not-in-revision\] inventories\/new\.yml does not exist at /);
      } finally {
        rmSync(join(repo, 'inventories', 'new.yml'));
      }
      const noInv = await cli(repo, ['diff', '--base', 'HEAD~1', 'playbooks/backup.yml']);
      assert.equal(noInv.code, 2);
      assert.match(noInv.err, /--base needs -i INVENTORY/);
    });
  });

  describe('the CI script (docs/ci/plan-diffs.sh)', function () {
    it('renders the changed pairs as one comment, lists the others, exit 0', () => {
      at('replace-member');
      const plans = join(repo, 'plans.txt');
      writeFileSync(
        plans,
        [
          '# pairs',
          'playbooks/restore-all.yml inventories/prod-3-https.yml',
          'playbooks/backup.yml inventories/prod-5.yml',
          'playbooks/compact-defrag.yml inventories/prod-3-https.yml',
        ].join('\n'),
      );
      try {
        const out = execFileSync('bash', [join(PACKAGE_ROOT, 'docs/ci/plan-diffs.sh'), commits.base ?? '', plans], {
          cwd: repo,
          encoding: 'utf8',
          env: { ...process.env, RUNBOOK: `${process.execPath} ${join(PACKAGE_ROOT, 'bin/runbook.js')}` },
        });
        const lines = out.split('\n');
        assert.equal(lines[0], '<!-- runbook-plan-diff -->');
        assert.ok(out.includes('**restore-all on prod: 4 hosts,'), out);
        assert.ok(out.includes('**compact-defrag on prod: '), out);
        assert.ok(!out.includes('prod-5.yml'), 'a pair whose files did not change is not rendered');
      } finally {
        rmSync(plans);
      }
    });
  });

  describe('saved plans', function () {
    it('diff OLD.json NEW.json: the same diff as --base', async () => {
      at('base');
      assert.equal((await cli(repo, ['plan', 'playbooks/restore-all.yml', '-i', 'inventories/prod-3-https.yml', '--out', 'old.json'])).code, 0);
      at('replace-member');
      assert.equal((await cli(repo, ['plan', 'playbooks/restore-all.yml', '-i', 'inventories/prod-3-https.yml', '--out', 'new.json'])).code, 0);
      const saved = await cli(repo, ['diff', 'old.json', 'new.json', '--format', 'json']);
      const viaGit = await diff('replace-member', 'base', 'playbooks/restore-all.yml', 'inventories/prod-3-https.yml', 'json');
      assert.equal(saved.code, 3);
      const strip = (s: string): unknown => {
        const d = JSON.parse(s) as PlanDiff;
        return { ...d, old: undefined, new: undefined };
      };
      assert.deepEqual(strip(saved.out), strip(viaGit.out));
      const same = await cli(repo, ['diff', 'new.json', 'playbooks/restore-all.yml', '-i', 'inventories/prod-3-https.yml']);
      assert.equal(same.code, 0, same.out);
    });

    it('a stale plan: plan --out, edit the inventory → checkPlanFreshness names the inventory', async () => {
      at('template');
      assert.equal((await cli(repo, ['plan', 'playbooks/configure.yml', '-i', 'inventories/small.yml', '--out', 'plan.json'])).code, 0);
      const loaded = loadSavedPlan(join(repo, 'plan.json'));
      assert.ok(loaded.plan, JSON.stringify(loaded.diagnostics));
      const roles = loaded.plan.inputs.map((i) => `${i.role} ${i.path}`).sort();
      assert.deepEqual(roles, ['file playbooks/templates/etcd.env.hbs', 'inventory inventories/small.yml', 'playbook playbooks/configure.yml']);
      assert.equal(loaded.plan.runbook, (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version);
      assert.deepEqual(checkPlanFreshness(loaded.plan, { cwd: repo }).stale, []);

      edit(repo, 'inventories/small.yml', (s) => s.replace('10.9.0.3', '10.9.0.33'));
      const f = checkPlanFreshness(loaded.plan, { cwd: repo });
      assert.deepEqual(
        f.stale.map((s) => [s.role, s.path, s.expected === loaded.plan?.inputs.find((i) => i.role === 'inventory')?.sha256, s.actual.length]),
        [['inventory', 'inventories/small.yml', true, 64]],
      );
      edit(repo, 'playbooks/templates/etcd.env.hbs', (s) => `${s}# edited\n`);
      rmSync(join(repo, 'playbooks', 'configure.yml'));
      const g = checkPlanFreshness(loaded.plan, { cwd: repo });
      assert.deepEqual(g.stale.map((s) => [s.role, s.path, s.actual === 'missing' ? 'missing' : 'changed']).sort(), [
        ['file', 'playbooks/templates/etcd.env.hbs', 'changed'],
        ['inventory', 'inventories/small.yml', 'changed'],
        ['playbook', 'playbooks/configure.yml', 'missing'],
      ]);
      git('checkout', '-q', '--', '.');
    });
  });
});
