// Security e2e: secrets never leave the process (lab, 2 hosts on 127.0.0.191-192). Secrets: an
// inventory secret from the environment used in commands, output, a copied file and a failure
// message; an etcd password-like value in an etcdctl-style command; the ssh key passphrase (the
// lab key re-encrypted with it); a sudo password (declared and resolved; the lab logs in as root,
// so sudo never asks for it). Every captured byte is searched for each secret's random part:
// terminal output with -vv, JSON events, the journal, a saved plan, the plan text, and
// `runbook diff` in text, markdown and json. Journal and plan files are owner-only. While commands
// holding a secret run (one SSH session per command, and on the controller), `ps` on a host and on
// the controller shows no secret: command text travels on stdin.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runApply } from '../../engine/cli/apply.js';
import { main } from '../../engine/cli/main.js';
import { EXIT } from '../../engine/model/io.js';
import { hostExec, labDown, labUp, type Lab } from '../lab/lab.js';
import { captureIo } from '../support/io.js';
import { waitFor } from '../support/wait.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const DIR = path.join(REPO, '.runbook/lab-sec-leak');
const rand = (): string => randomBytes(8).toString('hex');

/** name → { env var, value }; each value has a random part that must appear in no output. */
const SECRETS = {
  etcd_password: { env: 'RUNBOOK_TEST_ETCD_PASSWORD', marker: rand(), value: '' },
  api_token: { env: 'RUNBOOK_TEST_API_TOKEN', marker: rand(), value: '' },
  ssh_passphrase: { env: 'RUNBOOK_TEST_SSH_PASSPHRASE', marker: rand(), value: '' },
  sudo_password: { env: 'RUNBOOK_TEST_SUDO_PASSWORD', marker: rand(), value: '' },
};
SECRETS.etcd_password.value = `Pw'd "etcd" $x-${SECRETS.etcd_password.marker}`;
SECRETS.api_token.value = `tok-${SECRETS.api_token.marker}`;
SECRETS.ssh_passphrase.value = `pass phrase ${SECRETS.ssh_passphrase.marker}`;
SECRETS.sudo_password.value = `sudo-${SECRETS.sudo_password.marker}`;

function assertNoSecret(where: string, text: string): void {
  for (const [name, s] of Object.entries(SECRETS)) {
    assert.ok(
      !text.includes(s.marker),
      `${name} leaked into ${where}:\n${text
        .split('\n')
        .filter((l) => l.includes(s.marker))
        .join('\n')}`,
    );
  }
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

const PLAYBOOK = (extra = ''): string => `- name: secrets
  hosts: etcd
  tasks:
    - name: use the password
      shell: printf '%s' {{secrets.etcd_password}} > /root/pw; echo "etcdctl --user root:"{{secrets.etcd_password}}" endpoint health"; echo token {{secrets.api_token}} >&2
    - name: command argument
      command:
        argv: [echo, "--password={{secrets.etcd_password}}", "{{secrets.api_token}}"]
      register: echoed
    - name: copied file
      copy:
        content: "ETCDCTL_PASSWORD={{secrets.etcd_password}}\\n"
        dest: /root/etcd.env
    - name: become
      shell: id -u; echo {{secrets.api_token}}
      become: true
    - name: on the controller
      shell: echo {{secrets.api_token}} {{secrets.etcd_password}}
      delegate_to: localhost
    - name: a failure naming it
      fail:
        msg: "bad password {{secrets.etcd_password}} / {{echoed.stdout}}"
      ignore_errors: true
${extra}`;

describe('security: secrets appear in no output (lab, 127.0.0.191-192)', function () {
  this.timeout(120_000);
  let lab: Lab;
  let tmp: string;
  let inv: string;
  let journalDir: string;
  const saved: Record<string, string | undefined> = {};
  const outputs: Record<string, string> = {};

  before(async function () {
    this.timeout(300_000);
    lab = await labUp({ dir: DIR, hosts: 2, etcd: false, firstOctet: 191 });
    tmp = mkdtempSync(path.join(tmpdir(), 'runbook-secrets-'));
    journalDir = path.join(tmp, 'runs');
    for (const s of Object.values(SECRETS)) {
      saved[s.env] = process.env[s.env];
      process.env[s.env] = s.value;
    }
    // The lab key, encrypted with the passphrase secret.
    const key = path.join(lab.dir, 'id_passphrase');
    copyFileSync(lab.keyPath, key);
    chmodSync(key, 0o600);
    execFileSync('/usr/bin/ssh-keygen', ['-q', '-p', '-P', '', '-N', SECRETS.ssh_passphrase.value, '-f', key]);
    inv = path.join(lab.dir, 'inventory-secrets.yml');
    const secrets = Object.entries(SECRETS)
      .map(([n, s]) => `  ${n}: {env: ${s.env}}`)
      .join('\n');
    writeFileSync(
      inv,
      `${readFileSync(lab.inventoryPath, 'utf8').replace('identity_file: ./id_ed25519', 'identity_file: ./id_passphrase')}secrets:\n${secrets}\n`,
    );
    writeFileSync(path.join(tmp, 'pb.yml'), PLAYBOOK());
    writeFileSync(path.join(tmp, 'pb2.yml'), PLAYBOOK(`    - name: added later\n      shell: echo {{secrets.api_token}} --flag={{secrets.etcd_password}}\n`));

    const text = captureIo();
    const codeText = await runApply(path.join(tmp, 'pb.yml'), { inventory: inv, journalDir, output: 'text', verbose: 2 }, text);
    outputs['apply --output text -vv'] = `exit ${codeText}\n${text.all()}`;
    const json = captureIo();
    const codeJson = await runApply(path.join(tmp, 'pb.yml'), { inventory: inv, journalDir, output: 'json', verbose: 2 }, json);
    outputs['apply --output json'] = `exit ${codeJson}\n${json.all()}`;
    for (const f of filesUnder(journalDir)) outputs[`journal ${path.basename(f)}`] = readFileSync(f, 'utf8');

    mkdirSync(path.join(tmp, 'plans'));
    for (const [pb, out] of [
      ['pb.yml', 'old.json'],
      ['pb2.yml', 'new.json'],
    ] as const) {
      const io = captureIo();
      assert.equal(await main(['node', 'runbook', 'plan', path.join(tmp, pb), '-i', inv, '--out', path.join(tmp, 'plans', out)], io), EXIT.OK, io.all());
      outputs[`plan --out ${out}`] = readFileSync(path.join(tmp, 'plans', out), 'utf8');
      const shown = captureIo();
      assert.equal(await main(['node', 'runbook', 'plan', path.join(tmp, pb), '-i', inv, '--format', 'text', '--verbose'], shown), EXIT.OK);
      outputs[`plan text ${pb}`] = shown.all();
    }
    for (const format of ['text', 'markdown', 'json', 'github']) {
      const io = captureIo();
      const code = await main(['node', 'runbook', 'diff', path.join(tmp, 'plans', 'old.json'), path.join(tmp, 'plans', 'new.json'), '--format', format], io);
      outputs[`diff --format ${format}`] = `exit ${code}\n${io.all()}`;
    }
  });

  after(async function () {
    this.timeout(60_000);
    for (const s of Object.values(SECRETS)) {
      if (saved[s.env] === undefined) delete process.env[s.env];
      else process.env[s.env] = saved[s.env];
    }
    await labDown(DIR);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('[secret-leak] the runs used the secrets (passphrase-protected key, password on the hosts)', async () => {
    assert.match(outputs['apply --output text -vv'] ?? '', /^exit 0\n/, outputs['apply --output text -vv']);
    assert.match(outputs['apply --output json'] ?? '', /^exit 0\n/);
    for (const h of ['etcd-1', 'etcd-2']) {
      assert.equal((await hostExec(lab, h, 'cat /root/pw', { timeoutMs: 10_000 })).stdout, SECRETS.etcd_password.value);
      assert.equal((await hostExec(lab, h, 'cat /root/etcd.env', { timeoutMs: 10_000 })).stdout, `ETCDCTL_PASSWORD=${SECRETS.etcd_password.value}\n`);
    }
    // The masked values are still visible as masked: output was produced, just not the secret.
    assert.match(outputs['apply --output text -vv'] ?? '', /\*\*\*\*\*\*/);
  });

  for (const where of [
    'apply --output text -vv',
    'apply --output json',
    'plan --out old.json',
    'plan --out new.json',
    'plan text pb.yml',
    'plan text pb2.yml',
    'diff --format text',
    'diff --format markdown',
    'diff --format json',
    'diff --format github',
  ]) {
    it(`[secret-leak] no secret in ${where}`, () => {
      const text = outputs[where];
      assert.ok(text !== undefined && text.length > 0, `nothing captured for ${where}`);
      assertNoSecret(where, text);
    });
  }

  it('[secret-leak] no secret in the run journals', () => {
    const journals = Object.keys(outputs).filter((k) => k.startsWith('journal '));
    assert.equal(journals.length, 2, 'one journal per run');
    for (const j of journals) assertNoSecret(j, outputs[j] ?? '');
  });

  it('[secret-leak] diff saw the change (the comparison is not vacuous)', () => {
    assert.match(outputs['diff --format json'] ?? '', /^exit 3\n/);
  });

  it('[secret-leak] ps on a host and on the controller shows no secret while commands holding one run', async () => {
    // One SSH session per command (no session shell), and a command delegated to the controller:
    // both used to carry the command text in the exec request / argv. Each command says it has
    // started (a file), then waits for the test's go-ahead, so ps is read while it runs.
    const dir = mkdtempSync(path.join(tmp, 'ps-')); // on the controller; each lab host has its own /tmp
    const tag = rand();
    const invNoShell = path.join(lab.dir, 'inventory-secrets-no-shell.yml');
    writeFileSync(invNoShell, readFileSync(inv, 'utf8').replace('  host_key_checking: strict\n', '  host_key_checking: strict\n  session_shell: false\n'));
    assert.match(readFileSync(invNoShell, 'utf8'), /session_shell: false/);
    const blockUntilGo = (base: string) => `touch ${base}-started; while [ ! -e ${base}-go ]; do sleep 0.1; done`;
    const onHost = `/tmp/rb-ps-${tag}`;
    const onController = `${dir}/controller`;
    writeFileSync(
      path.join(tmp, 'ps.yml'),
      `- name: ps
  hosts: etcd
  tasks:
    - name: on the hosts
      shell: "${blockUntilGo(onHost)}; echo {{secrets.api_token}} {{secrets.etcd_password}} > /dev/null"
    - name: on the controller
      shell: "${blockUntilGo(onController)}; echo {{secrets.api_token}} {{secrets.etcd_password}} > /dev/null"
      delegate_to: localhost
      run_once: true
`,
    );
    const ps = (): string => execFileSync('ps', ['-eo', 'pid,args', '--no-headers'], { encoding: 'utf8' });
    const io = captureIo();
    let ended: number | undefined;
    const run = runApply(path.join(tmp, 'ps.yml'), { inventory: invNoShell, journalDir, output: 'text' }, io).then((code) => (ended = code));
    const started = async (where: string, exists: () => Promise<boolean>): Promise<void> => {
      // A run that ended cannot start the command any more: stop waiting then, and say so.
      const seen = await waitFor(
        `the command on ${where} to start`,
        async () => (await exists()) || ended !== undefined,
        30_000,
        100,
        () => io.all(),
      );
      assert.ok(seen && ended === undefined, `the command on ${where} never started (run ended: exit ${ended}):\n${io.all()}`);
    };
    const hostHas = async (h: string, file: string): Promise<boolean> => (await hostExec(lab, h, `test -e ${file}`, { timeoutMs: 10_000 })).code === 0;
    const samples: Record<string, string> = {};
    for (const h of ['etcd-1', 'etcd-2']) await started(h, () => hostHas(h, `${onHost}-started`));
    for (const h of ['etcd-1', 'etcd-2']) samples[`ps on ${h}`] = (await hostExec(lab, h, 'ps -eo pid,args --no-headers', { timeoutMs: 10_000 })).stdout;
    samples['ps on the controller (SSH commands running)'] = ps();
    for (const h of ['etcd-1', 'etcd-2']) await hostExec(lab, h, `touch ${onHost}-go`, { timeoutMs: 10_000 });
    await started('the controller', () => Promise.resolve(existsSync(`${onController}-started`)));
    samples['ps on the controller (local command running)'] = ps();
    writeFileSync(`${onController}-go`, '');
    assert.equal(await run, EXIT.OK, io.all());
    // Not vacuous: the shells running the commands (the stdin reader) were in the samples.
    for (const [where, text] of Object.entries(samples)) {
      if (where === 'ps on the controller (SSH commands running)') {
        // The controller's pid namespace sees the hosts' processes too.
        assertNoSecret(where, text);
        continue;
      }
      assert.match(text, /__rb_cmd/, `${where}: no runbook command shell in ps:\n${text}`);
      assertNoSecret(where, text);
    }
  });

  it('[secret-leak] journals are 0600 in a 0700 directory, even when the directory existed wider', async () => {
    const wide = path.join(tmp, 'wide-runs');
    mkdirSync(wide, { mode: 0o755 });
    chmodSync(wide, 0o755);
    const io = captureIo();
    assert.equal(await runApply(path.join(tmp, 'pb.yml'), { inventory: inv, journalDir: wide, output: 'text', check: true }, io), EXIT.OK, io.all());
    for (const d of [journalDir, wide]) {
      assert.equal(statSync(d).mode & 0o777, 0o700, d);
      const files = readdirSync(d);
      assert.ok(files.length > 0);
      for (const f of files) assert.equal(statSync(path.join(d, f)).mode & 0o777, 0o600, f);
    }
  });

  it('[secret-leak] saved plans are 0600 (also over an existing wider file) in a 0700 directory made for them', async () => {
    assert.equal(statSync(path.join(tmp, 'plans', 'old.json')).mode & 0o777, 0o600);
    const out = path.join(tmp, 'new-dir', 'sub', 'plan.json');
    const io = captureIo();
    assert.equal(await main(['node', 'runbook', 'plan', path.join(tmp, 'pb.yml'), '-i', inv, '--out', out], io), EXIT.OK, io.all());
    assert.equal(statSync(out).mode & 0o777, 0o600);
    assert.equal(statSync(path.dirname(out)).mode & 0o777, 0o700);
    const existing = path.join(tmp, 'existing.json');
    writeFileSync(existing, '{}', { mode: 0o644 });
    chmodSync(existing, 0o644);
    assert.equal(await main(['node', 'runbook', 'plan', path.join(tmp, 'pb.yml'), '-i', inv, '--out', existing], captureIo()), EXIT.OK);
    assert.equal(statSync(existing).mode & 0o777, 0o600);
  });
});
