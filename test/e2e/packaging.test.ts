// The npm package, as an ops repository would get it: `npm pack`, then `npm install -g` of the
// tarball into a throwaway prefix (dependencies from the local npm cache first). The installed
// `runbook` answers --help and --version, validates and plans with the precompiled schemas (no ajv
// compile at run time), and applies backup.yml to a real lab (sshd + etcd, 1 host).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { labDown, type Lab } from '../lab/lab.js';
import { REPO, freshLab, labDir } from './playbook-helpers.js';

const NAME = 'packaging';

describe('packaging: npm pack → npm install -g → runbook (lab, 1 host)', function () {
  this.timeout(300_000);
  let work: string;
  let bin: string;
  let lab: Lab;

  const run = (...args: string[]): { code: number | null; out: string } => runIn({}, ...args);
  const runIn = (env: NodeJS.ProcessEnv, ...args: string[]): { code: number | null; out: string } => {
    const r = spawnSync(bin, args, { encoding: 'utf8', cwd: work, env: { ...process.env, ...env } });
    return { code: r.status, out: `${r.stdout}${r.stderr}` };
  };

  before(async () => {
    work = mkdtempSync(path.join(tmpdir(), 'runbook-pack-'));
    const tgz = execFileSync('npm', ['pack', '--silent', '--pack-destination', work], { cwd: REPO, encoding: 'utf8' }).trim().split('\n').pop() ?? '';
    const prefix = path.join(work, 'prefix');
    execFileSync('npm', ['install', '-g', '--prefer-offline', '--no-audit', '--no-fund', '--prefix', prefix, path.join(work, tgz)], { stdio: 'pipe' });
    bin = path.join(prefix, 'bin', 'runbook');
    lab = await freshLab(NAME, { hosts: 1, firstOctet: 95 });
  });

  after(async () => {
    await labDown(labDir(NAME));
    rmSync(work, { recursive: true, force: true });
  });

  it('Why: the npm files list leaves out dist/validators, no LICENSE — the tarball has both, schemas, playbooks, monitoring, no tests', () => {
    const pkg = path.join(path.dirname(path.dirname(bin)), 'lib', 'node_modules', 'runbook');
    for (const f of [
      'LICENSE',
      'README.md',
      'bin/runbook.js',
      'dist/engine/cli/main.js',
      'dist/validators/playbook.cjs',
      'schemas/inventory.schema.json',
      'playbooks/backup.yml',
      'monitoring/etcd-alerts.yml',
    ]) {
      assert.ok(existsSync(path.join(pkg, f)), `${f} is in the package`);
    }
    assert.equal(existsSync(path.join(pkg, 'dist', 'test')), false, 'no compiled tests');
    assert.equal(existsSync(path.join(pkg, 'test')), false, 'no test sources');
    // Each precompiled validator records the sha256 of its schema; runbook uses it only on a match
    // (engine/validate/schema.ts), else it compiles the schema with ajv at every run.
    const require = createRequire(import.meta.url);
    const names = readdirSync(path.join(pkg, 'schemas', 'modules')).map((f) => `modules/${f.replace('.schema.json', '')}`);
    for (const name of ['playbook', 'inventory', ...names]) {
      const schema = readFileSync(path.join(pkg, 'schemas', `${name}.schema.json`));
      const mod = require(path.join(pkg, 'dist', 'validators', `${name.replace('/', '__')}.cjs`)) as { schemaSha256?: string };
      assert.equal(mod.schemaSha256, createHash('sha256').update(schema).digest('hex'), `${name}: the precompiled validator matches its schema`);
    }
  });

  it('runbook --help and --version', () => {
    const help = run('--help');
    assert.equal(help.code, 0, help.out);
    assert.match(help.out, /Usage: runbook/);
    assert.match(help.out, /Exit codes:/);
    const version = run('--version');
    assert.equal(version.code, 0);
    assert.match(version.out, /^\d+\.\d+\.\d+/);
  });

  it('validate and plan the shipped playbooks with the precompiled schemas', () => {
    const inv = path.join(REPO, 'inventories', 'prod-3-https.yml');
    const v = run('validate', 'backup', 'restore-all', '-i', inv);
    assert.equal(v.code, 0, v.out);
    const p = run('plan', 'restore-all', '-i', inv, '--verbose');
    assert.equal(p.code, 0, p.out);
    assert.match(p.out, /etcd_snapshot restore: restore /);
    assert.match(p.out, /etcdutl snapshot restore|etcdctl snapshot restore/);
  });

  it('Why: no shell completion, no module documentation — the installed runbook has both', () => {
    const c = run('completion', 'bash');
    assert.equal(c.code, 0, c.out);
    assert.match(c.out, /complete -F _runbook runbook/);
    // Shipped playbook names come from the installed package.
    assert.match(c.out, /restore-all-no-backup/);
    const d = run('doc', 'etcd_snapshot');
    assert.equal(d.code, 0, d.out);
    assert.match(d.out, /^ {2}save\n {6}register: the manifest/m);
  });

  it('apply backup.yml to the lab from the installed package', () => {
    const r = run('apply', 'backup', '-i', lab.inventoryPath, '--yes', '--output', 'text', '--journal-dir', path.join(lab.dir, 'runs'));
    assert.equal(r.code, 0, r.out);
    const backups = readdirSync(path.join(lab.dir, 'backups'), { recursive: true }).map(String);
    assert.ok(
      backups.some((f) => f.endsWith('.db')),
      `a snapshot was fetched: ${backups.join(', ')}`,
    );
    assert.ok(
      backups.some((f) => f.endsWith('.db.manifest.json')),
      'with its manifest',
    );
  });

  it('Why: a saved plan differs between two machines — ~ stays in the plan and is resolved when apply connects', () => {
    // The lab inventory with the key and known_hosts under ~/.ssh, as operators write them.
    const inv = path.join(lab.dir, 'inventory-home.yml');
    writeFileSync(
      inv,
      readFileSync(lab.inventoryPath, 'utf8')
        .replace('identity_file: ./id_ed25519', 'identity_file: ~/.ssh/id_ed25519')
        .replace('known_hosts: ./known_hosts', 'known_hosts: ~/.ssh/known_hosts'),
    );
    // Planned under one HOME (which has no key at all), applied under another that has them.
    const planHome = mkdtempSync(path.join(work, 'home-plan-'));
    const applyHome = mkdtempSync(path.join(work, 'home-apply-'));
    mkdirSync(path.join(applyHome, '.ssh'), { mode: 0o700 });
    copyFileSync(path.join(lab.dir, 'id_ed25519'), path.join(applyHome, '.ssh', 'id_ed25519'));
    chmodSync(path.join(applyHome, '.ssh', 'id_ed25519'), 0o600);
    copyFileSync(path.join(lab.dir, 'known_hosts'), path.join(applyHome, '.ssh', 'known_hosts'));
    const planFile = path.join(work, 'backup-plan.json');
    const p = runIn({ HOME: planHome }, 'plan', 'backup', '-i', inv, '--out', planFile);
    assert.equal(p.code, 0, p.out);
    const plan = readFileSync(planFile, 'utf8');
    assert.ok(plan.includes('"identityFile": "~/.ssh/id_ed25519"') && plan.includes('"knownHosts": "~/.ssh/known_hosts"'), 'the plan keeps ~');
    assert.ok(!plan.includes(planHome) && !plan.includes(applyHome), 'no HOME in the plan');
    const r = runIn({ HOME: applyHome }, 'apply', planFile, '--yes', '--output', 'text', '--journal-dir', path.join(lab.dir, 'runs'));
    assert.equal(r.code, 0, r.out);
  });
});
