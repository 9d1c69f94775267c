// Issue #17 "Why" items of the CLI (items 4–6): each describe is named after the line of the issue it
// covers. Everything runs through the real entry point (main, or bin/runbook.js in a child process
// where the environment matters: HOME, the working directory, a shell sourcing the completion).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../engine/cli/main.js';
import { REGISTERS } from '../../engine/cli/doc.js';
import { MODULES } from '../../engine/modules/registry.js';
import { PACKAGE_ROOT } from '../../engine/package/root.js';
import { captureIo } from '../support/io.js';

const INV = join(PACKAGE_ROOT, 'inventories', 'prod-3-https.yml');
const BIN = join(PACKAGE_ROOT, 'bin', 'runbook.js');

async function run(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = captureIo();
  const code = await main(['node', 'runbook', ...args], io);
  return { code, out: io.stdout(), err: io.stderr() };
}

function runBin(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: opts.cwd ?? PACKAGE_ROOT, env: { ...process.env, ...opts.env } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('Why: a saved plan differs between two machines (~ in identity_file expanded into the plan; controller paths)', function () {
  this.timeout(120_000);
  let scratch: string;
  before(() => {
    scratch = mkdtempSync(join(tmpdir(), 'runbook-same-plan-'));
  });
  after(() => rmSync(scratch, { recursive: true, force: true }));

  it('the same plan made with two different HOME directories and from two working directories is byte-identical', () => {
    // One ops repository, checked out twice at different depths (CI's workspace, a laptop's clone).
    const make = (dir: string): string => {
      const repo = join(scratch, dir, 'ops');
      mkdirSync(join(repo, 'inventories'), { recursive: true });
      cpSync(join(PACKAGE_ROOT, 'playbooks'), join(repo, 'playbooks'), { recursive: true });
      // ~ and a path relative to the inventory, as an operator writes them.
      const inv = readFileSync(INV, 'utf8').replace('identity_file: ~/.ssh/id_ed25519', 'identity_file: ../keys/ops_ed25519');
      assert.notEqual(inv, readFileSync(INV, 'utf8'), 'the fixture sets identity_file');
      writeFileSync(join(repo, 'inventories', 'prod.yml'), inv);
      return repo;
    };
    const a = make('ci/builds/1');
    const b = make('home');
    const homeA = join(scratch, 'home-ci');
    const homeB = join(scratch, 'home-laptop');
    const outputs = (repo: string, home: string): string[] =>
      [
        ['plan', 'playbooks/restore-all.yml', '-i', 'inventories/prod.yml', '--format', 'json'],
        ['plan', 'playbooks/restore-all.yml', '-i', 'inventories/prod.yml', '--verbose'],
        ['plan', 'playbooks/backup.yml', '-i', 'inventories/prod.yml', '--format', 'json'],
      ].map((args) => {
        const r = runBin(args, { cwd: repo, env: { HOME: home } });
        assert.equal(r.code, 0, r.err);
        return r.out;
      });
    const first = outputs(a, homeA);
    const second = outputs(b, homeB);
    for (let i = 0; i < first.length; i++) assert.equal(second[i], first[i], `output ${i} differs between the two machines`);
    // Neither HOME nor the checkout's location is in the plan; ~ is kept as written.
    for (const text of first) {
      assert.ok(!text.includes(homeA) && !text.includes(scratch), 'no machine path in the plan');
    }
    // A shipped playbook by its bare name: named as runbook:…, never by where the package is installed.
    const shipped = runBin(['plan', 'backup', '-i', 'inventories/prod.yml', '--format', 'json'], { cwd: a, env: { HOME: homeA } });
    assert.equal(shipped.code, 0, shipped.err);
    assert.equal((JSON.parse(shipped.out) as { playbook: string }).playbook, 'runbook:playbooks/backup.yml');
    assert.ok(!shipped.out.includes(PACKAGE_ROOT), 'no install path in the plan');
    const plan = JSON.parse(first[0] ?? '{}') as { hosts: Record<string, { ssh: { identityFile?: string; knownHosts: string } }> };
    assert.equal(plan.hosts['etcd-1']?.ssh.knownHosts, '~/.ssh/known_hosts');
    assert.equal(plan.hosts['etcd-1']?.ssh.identityFile, 'keys/ops_ed25519');
  });
});

describe('Why: -i a.yml -i b.yml silently uses the last one', () => {
  for (const cmd of [['plan', 'backup'], ['validate', 'backup'], ['inventory'], ['apply', 'backup'], ['diff', '--base', 'HEAD', 'backup']]) {
    it(`runbook ${cmd[0]} refuses a second -i (exit 2, naming both files), nothing runs`, async () => {
      const r = await run(...cmd, '-i', INV, '-i', join(PACKAGE_ROOT, 'inventories', 'prod-5.yml'));
      assert.equal(r.code, 2, r.out + r.err);
      assert.match(r.err, /-i given more than once \(.*prod-3-https\.yml, .*prod-5\.yml\).*not merged/);
      assert.equal(r.out, '');
    });
  }
});

describe('Why: validate with no files says "ok: 0 file(s) valid"', () => {
  it('exits 2 and says there is nothing to validate', async () => {
    const r = await run('validate');
    assert.equal(r.code, 2);
    assert.match(r.err, /nothing to validate/);
    assert.doesNotMatch(r.out + r.err, /ok: 0/);
  });
  it('with only -i it validates that inventory', async () => {
    const r = await run('validate', '-i', INV);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /ok: 1 file\(s\) valid/);
  });
});

describe('Why: an unknown -t tag gives an empty plan, exit 0', () => {
  it('exits 2 naming the tag and the playbook, with the known tags in the hint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'runbook-tags-'));
    try {
      const pb = join(dir, 'pb.yml');
      writeFileSync(
        pb,
        '- name: p\n  hosts: etcd\n  tasks:\n    - name: a\n      shell: "true"\n      tags: [fast]\n    - name: b\n      shell: "true"\n      tags: [slow]\n',
      );
      const r = await run('plan', pb, '-i', INV, '-t', 'fats');
      assert.equal(r.code, 2, r.out);
      assert.match(r.err, /\[unknown-tag\] -t fats: no task of .*pb\.yml has this tag/);
      assert.match(r.err, /known tags: fast, slow/);
      const ok = await run('plan', pb, '-i', INV, '-t', 'fast');
      assert.equal(ok.code, 0, ok.err);
      assert.match(ok.out, /TASK 1\.1 · a/);
      assert.doesNotMatch(ok.out, /TASK 1\.\d · b/);
      const shipped = await run('plan', 'backup', '-i', INV, '-t', 'x');
      assert.equal(shipped.code, 2);
      assert.match(shipped.err, /this playbook has no tags/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Why: what a registered result holds is documented nowhere; module arguments live only in the JSON schemas', () => {
  it('runbook doc MODULE lists the schema arguments, the ops and what register holds', async () => {
    const r = await run('doc', 'etcd_health');
    assert.equal(r.code, 0, r.err);
    const schema = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'schemas', 'modules', 'etcd_health.schema.json'), 'utf8')) as {
      properties: Record<string, unknown>;
    };
    for (const arg of Object.keys(schema.properties)) assert.match(r.out, new RegExp(`^  ${arg}  \\(`, 'm'), `argument ${arg}`);
    assert.match(r.out, /^ {2}lost {2}\(read-only\)\n {6}register: \{healthy, quorum\}/m);
    const shell = await run('doc', 'shell');
    assert.match(shell.out, /REGISTER\n {2}\{rc, stdout, stderr\}/);
    const json = JSON.parse((await run('doc', 'etcd_member', '--format', 'json')).out) as { format: string; ops: { name: string; register: string }[] };
    assert.equal(json.format, 'runbook-doc/1');
    assert.deepEqual(
      json.ops.map((o) => o.name),
      Object.keys(MODULES.etcd_member?.ops ?? {}),
    );
    const unknown = await run('doc', 'etcd_nope');
    assert.equal(unknown.code, 2);
    assert.match(unknown.err, /no module named "etcd_nope"/);
  });

  it('every module, and every op of a module with ops, has its registered result written down', () => {
    for (const [name, m] of Object.entries(MODULES)) {
      const reg = REGISTERS[name];
      assert.ok(reg !== undefined, `${name}: REGISTERS has no entry`);
      if (m.ops) {
        assert.equal(typeof reg, 'object', `${name} has ops: one entry per op`);
        for (const op of Object.keys(m.ops)) assert.ok((reg as Record<string, string>)[op], `${name} ${op}: no register entry`);
      }
    }
  });
});

describe('Why: no shell completion (runbook completion bash|zsh|fish)', function () {
  this.timeout(60_000);
  const script = (shell: string): string => {
    const r = runBin(['completion', shell]);
    assert.equal(r.code, 0, r.err);
    return r.out;
  };

  it('bash: sourced in a real bash, it completes commands, flags, --format choices and shipped playbooks', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'runbook-compl-')), 'runbook.bash');
    writeFileSync(file, script('bash'));
    const complete = (line: string): string[] => {
      const words = line.split(' ');
      const compWords = words.map((w) => JSON.stringify(w)).join(' ');
      const probe = `source ${JSON.stringify(file)}; COMP_WORDS=(${compWords}); COMP_CWORD=${words.length - 1}; _runbook; printf '%s\\n' "\${COMPREPLY[@]}"`;
      return execFileSync('bash', ['-c', probe], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
        .split('\n')
        .filter(Boolean);
    };
    assert.deepEqual(complete('runbook pl'), ['plan']);
    assert.ok(complete('runbook ').includes('completion'));
    assert.ok(complete('runbook plan --').includes('--inventory'));
    assert.ok(complete('runbook plan --').includes('--verbose'));
    assert.deepEqual(complete('runbook diff --format '), ['text', 'markdown', 'json', 'github']);
    assert.deepEqual(complete('runbook plan restore'), ['restore-all', 'restore-all-no-backup']);
    assert.deepEqual(complete('runbook completion f'), ['fish']);
    assert.deepEqual(complete('runbook snapshot verify --for'), ['--format']);
    rmSync(join(file, '..'), { recursive: true, force: true });
  });

  it('zsh and fish: every command and flag of the program is in the script', () => {
    const zsh = script('zsh');
    const fish = script('fish');
    assert.match(zsh, /^#compdef runbook/);
    for (const cmd of ['validate', 'plan', 'diff', 'inventory', 'status', 'apply', 'schedule', 'doc', 'completion', 'snapshot']) {
      assert.ok(zsh.includes(`'${cmd}:`), `zsh: ${cmd}`);
      assert.ok(fish.includes(`-a ${cmd} `), `fish: ${cmd}`);
    }
    assert.ok(zsh.includes("{-i,--inventory}'[") && zsh.includes(':file:_files'));
    assert.ok(fish.includes("complete -c runbook -n '__fish_seen_subcommand_from apply' -s y -l yes"));
    assert.ok(fish.includes("-l format -x -a 'text markdown json github'"));
  });

  it('an unknown shell is refused (exit 2)', async () => {
    const r = await run('completion', 'tcsh');
    assert.equal(r.code, 2);
  });
});

describe('Why: examples and exit codes in --help', () => {
  it('runbook --help shows examples and every exit code; plan --help shows its own examples', async () => {
    const r = await run('--help');
    assert.equal(r.code, 0);
    assert.match(r.out, /Examples:\n {2}runbook validate/);
    for (const code of ['0', '1', '2', '3', '4', '130']) assert.match(r.out, new RegExp(`^  ${code} +\\S`, 'm'), `exit code ${code}`);
    const plan = await run('plan', '--help');
    assert.match(plan.out, /Examples:\n {2}runbook plan restore-all/);
  });
});

describe('Why: no version in validate/inventory JSON, and inventory --format json mixes camelCase with snake_case', () => {
  it('validate --format json names its format and version', async () => {
    const r = await run('validate', 'backup', '--format', 'json');
    assert.equal(r.code, 0, r.err);
    const v = JSON.parse(r.out) as { format: string; ok: boolean };
    assert.equal(v.format, 'runbook-validate/1');
    assert.equal(v.ok, true);
  });

  it('inventory --format json: versioned, every key runbook names in snake_case, operator names kept', async () => {
    const r = await run('inventory', '-i', INV, '--format', 'json');
    assert.equal(r.code, 0, r.err);
    const v = JSON.parse(r.out) as Record<string, unknown> & { hosts: Record<string, { vars: Record<string, unknown> }> };
    assert.equal(v.format, 'runbook-inventory/1');
    const camel: string[] = [];
    const walk = (x: unknown, at: string, names: boolean): void => {
      if (Array.isArray(x)) x.forEach((y, i) => walk(y, `${at}[${i}]`, false));
      else if (x && typeof x === 'object')
        for (const [k, y] of Object.entries(x)) {
          if (!names && /[A-Z]/.test(k)) camel.push(`${at}.${k}`);
          // Host and group names, and variable names, are the operator's.
          walk(y, `${at}.${k}`, !names && ['hosts', 'groups', 'vars', 'var_sources'].includes(k));
        }
    };
    walk(v, '', false);
    assert.deepEqual(camel, []);
    const cluster = v.cluster as Record<string, unknown>;
    assert.equal(cluster.etcd_version, '3.5.17');
    assert.ok('controller_backup_dir' in cluster && 'fault_tolerance' in (v.facts as object));
    assert.ok(v.hosts['etcd-1'], 'host names are kept');
  });
});

describe('Why: plans print long generated bash where a reviewer wants the intent', () => {
  it('text shows module, op and intent on one line; the commands only with --verbose; JSON always has both', async () => {
    const plain = await run('plan', 'restore-all', '-i', INV);
    assert.equal(plain.code, 0, plain.err);
    assert.match(plain.out, /^ {4}etcd-1: etcd_health lost: refuse if a quorum of members still serves: etcd-1, etcd-2, etcd-3$/m);
    assert.doesNotMatch(plain.out, /bash -c 'open=/);
    const verbose = await run('plan', 'restore-all', '-i', INV, '--verbose');
    assert.match(verbose.out, /etcd_health lost: refuse if a quorum of members still serves: etcd-1, etcd-2, etcd-3\n {8}\$ bash -c 'open=/);
    const json = JSON.parse((await run('plan', 'restore-all', '-i', INV, '--format', 'json')).out) as {
      plays: { tasks: { steps: { intent?: string; actions: { cmd?: string }[] }[] }[] }[];
    };
    const step = json.plays[0]?.tasks.map((t) => t.steps[0]).find((st) => st?.intent?.startsWith('etcd_health lost'));
    assert.equal(step?.intent, 'etcd_health lost: refuse if a quorum of members still serves: etcd-1, etcd-2, etcd-3');
    assert.match(step?.actions[0]?.cmd ?? '', /^bash -c 'open=/);
  });

  it('every op of every module with ops has an intent', () => {
    for (const m of Object.values(MODULES)) for (const [op, def] of Object.entries(m.ops ?? {})) assert.ok(def.intent, `${m.name} ${op} has no intent`);
  });
});

describe('Why: a serial: 1 play is shown grouped by task, not by batch', () => {
  it('force-new-cluster re-adds members batch by batch, each batch with all its tasks', async () => {
    const r = await run('plan', 'force-new-cluster', '-i', INV, '-e', 'survivor=etcd-1');
    assert.equal(r.code, 0, r.err);
    const play = r.out.slice(r.out.indexOf('PLAY 3 '), r.out.indexOf('PLAY 4 '));
    const batches = [...play.matchAll(/^ {2}BATCH (\d)\/3 · (\S+)$/gm)].map((m) => `${m[1]} ${m[2]}`);
    assert.deepEqual(batches, ['1 etcd-1', '2 etcd-2', '3 etcd-3']);
    // Within batch 2, task 3.4 (member add) is for etcd-2 only, and comes before batch 3's first task.
    const b2 = play.slice(play.indexOf('BATCH 2/3'), play.indexOf('BATCH 3/3'));
    assert.match(b2, /TASK 3\.5 · Add it to the cluster[^\n]*\n[^\n]*\n(?: {4}quorum: [^\n]*\n)* {4}etcd-2: etcd_member add: add member etcd-2 at /);
    assert.doesNotMatch(b2, /etcd-3:/);
  });
});

describe('Why: annotations on the right file and line in a pull request (--format github)', () => {
  it('validate --format github: one ::error per problem with file, line and col', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'runbook-gh-'));
    try {
      const pb = join(dir, 'pb.yml');
      writeFileSync(pb, '- name: p\n  hosts: etcd\n  tasks:\n    - name: a\n      shel: "true"\n');
      const r = await run('validate', pb, '--format', 'github');
      assert.equal(r.code, 2);
      const lines = r.out.trim().split('\n');
      assert.ok(lines.length >= 1);
      for (const l of lines) assert.match(l, /^::error file=[^,]+pb\.yml,line=\d+,col=\d+,title=runbook [a-z-]+::\[[a-z-]+\] /);
      assert.match(r.out, /line=5,col=7/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('diff --format github: one ::notice per changed task, on the line where that task starts in the playbook', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'runbook-gh-diff-'));
    try {
      const pb = join(dir, 'pb.yml');
      const head = '- name: p\n  hosts: etcd\n  tasks:\n    - name: same\n      shell: "true"\n';
      writeFileSync(pb, `${head}    - name: changes\n      shell: echo one\n`);
      assert.equal((await run('plan', pb, '-i', INV, '--out', join(dir, 'old.json'))).code, 0);
      writeFileSync(pb, `${head}    - name: changes\n      etcd_health:\n        op: lost\n`);
      assert.equal((await run('plan', pb, '-i', INV, '--out', join(dir, 'new.json'))).code, 0);
      const r = await run('diff', join(dir, 'old.json'), join(dir, 'new.json'), '--format', 'github');
      assert.equal(r.code, 3, r.err);
      const notices = r.out.split('\n').filter((l) => l.startsWith('::notice '));
      assert.equal(notices.length, 1, r.out);
      assert.match(notices[0] ?? '', /^::notice file=[^,]*pb\.yml,line=6,title=runbook diff%3A TASK 1\.2::task changed: changes \(etcd_health\)%0A/);
      assert.match(notices[0] ?? '', /etcd_health lost: refuse if a quorum of members still serves/);
      assert.match(r.out.trim().split('\n').pop() ?? '', /^pb on prod: /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Why: diff --base HEAD FILE -i INV prints "no changes" when the files live in another repository than the current directory\'s', function () {
  this.timeout(120_000);
  let scratch: string;
  const git = (cwd: string, ...args: string[]): string =>
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', '-c', 'commit.gpgsign=false', ...args], { cwd, encoding: 'utf8' });
  const repo = (name: string, files: Record<string, string>): string => {
    const dir = join(scratch, name);
    mkdirSync(dir, { recursive: true });
    git(dir, 'init', '-q', '-b', 'main');
    for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
    git(dir, 'add', '.');
    git(dir, 'commit', '-q', '-m', 'base');
    return dir;
  };
  const inventory = readFileSync(INV, 'utf8');
  const playbook = readFileSync(join(PACKAGE_ROOT, 'playbooks', 'backup.yml'), 'utf8');
  let ops: string;

  before(() => {
    scratch = mkdtempSync(join(tmpdir(), 'runbook-diff-repo-'));
    // The ops repository: the inventory changes after the base commit (a new retention).
    ops = repo('ops', { 'prod.yml': inventory, 'backup.yml': playbook });
    writeFileSync(join(ops, 'prod.yml'), inventory.replace(/backup_retention: \d+/, 'backup_retention: 3'));
    assert.notEqual(readFileSync(join(ops, 'prod.yml'), 'utf8'), inventory, 'the fixture changes backup_retention');
    repo('other', { README: 'another repository\n' });
    mkdirSync(join(scratch, 'plain'));
  });
  after(() => rmSync(scratch, { recursive: true, force: true }));

  for (const where of ['other', 'plain'] as const) {
    const from = where === 'other' ? 'another repository' : 'a directory outside any repository';
    it(`from ${from}: the change is found in the inventory's own repository (exit 3)`, () => {
      const r = runBin(['diff', '--base', 'HEAD', join(ops, 'backup.yml'), '-i', join(ops, 'prod.yml')], { cwd: join(scratch, where) });
      assert.equal(r.code, 3, r.out + r.err);
      assert.doesNotMatch(r.out, /no changes/);
      assert.match(r.out, /\{"count":24\}/);
      assert.match(r.out, /\{"count":3\}/);
    });
  }

  it('the playbook in one repository and the inventory in another: refused (exit 2), naming both', () => {
    const pbRepo = repo('playbooks', { 'backup.yml': playbook });
    const r = runBin(['diff', '--base', 'HEAD', join(pbRepo, 'backup.yml'), '-i', join(ops, 'prod.yml')], { cwd: scratch });
    assert.equal(r.code, 2, r.out);
    assert.match(r.err, /backup\.yml is in the repository .*playbooks, the inventory in .*ops: one --base compares one repository/);
    assert.equal(r.out, '');
  });

  it('an inventory in no repository: refused (exit 2), never "no changes"', () => {
    writeFileSync(join(scratch, 'plain', 'prod.yml'), inventory);
    const r = runBin(['diff', '--base', 'HEAD', 'backup', '-i', 'prod.yml'], { cwd: join(scratch, 'plain') });
    assert.equal(r.code, 2, r.out);
    assert.match(r.err, /prod\.yml is not in a git repository: there is nothing to compare/);
  });

  it('a shipped playbook by name: compared inventory, and the playbook named as read from the working tree on both sides', () => {
    const r = runBin(['diff', '--base', 'HEAD', 'backup', '-i', 'prod.yml'], { cwd: ops });
    assert.equal(r.code, 3, r.out + r.err);
    assert.match(r.err, /backup\.yml is not compared at HEAD \(shipped with runbook\): read from the working tree on both sides/);
  });
});
