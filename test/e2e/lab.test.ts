// e2e: the test lab itself (test/lab/lab.ts): real sshd + etcd per host, in namespaces (3.4 over
// http, and the production shape: Debian's etcd 3.5 with TLS).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hostExec, labAddress, labDown, labStatus, labUp, loadLab, type Lab } from '../lab/lab.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const DIR = path.join(REPO, '.runbook/lab-e2e');

function sh(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function pidNsOf(pid: number): string | null {
  try {
    return readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return null;
  }
}

/** Start time of a live process (field 22 of /proc/PID/stat), or null. */
function startTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function processesIn(namespaces: Set<string>): number[] {
  const found: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const ns = pidNsOf(Number(d));
    if (ns && namespaces.has(ns)) found.push(Number(d));
  }
  return found;
}

async function run(lab: Lab, host: string, cmd: string): Promise<string> {
  const r = await hostExec(lab, host, cmd, { timeoutMs: 60_000 });
  assert.equal(r.code, 0, `${host}: ${cmd}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

describe('test lab (real sshd + etcd in namespaces)', function () {
  this.timeout(60_000);
  let lab: Lab;
  const etcdctl = (lab: Lab, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    sh('/usr/bin/etcdctl', [`--endpoints=${lab.clientUrls.join(',')}`, '--command-timeout=5s', ...args]);

  before(async function () {
    const t0 = Date.now();
    lab = await labUp({ dir: DIR, hosts: 3 });
    console.log(`      labUp(3 hosts, etcd): ${Date.now() - t0} ms`);
  });

  after(async function () {
    await labDown(DIR);
  });

  it('logs in over ssh with the lab key and strict host-key checking', async function () {
    const r = await sh('/usr/bin/ssh', [
      '-i',
      lab.keyPath,
      '-o',
      'StrictHostKeyChecking=yes',
      '-o',
      `UserKnownHostsFile=${lab.knownHostsPath}`,
      '-o',
      'BatchMode=yes',
      `root@${labAddress(11)}`,
      'hostname',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'etcd-1');
    assert.deepEqual(loadLab(DIR), lab);
    const inv = readFileSync(lab.inventoryPath, 'utf8');
    assert.match(inv, /hosts: \[etcd-1, etcd-2, etcd-3\]/);
    assert.doesNotMatch(inv, /spare/);
  });

  it('each host sees only its own etcd and its own hostname', async function () {
    for (const h of lab.hosts) {
      const out = await run(lab, h.name, 'hostname; pgrep -a etcd; cat /etc/etcd/etcd.conf');
      const lines = out.trim().split('\n');
      assert.equal(lines[0], h.name);
      assert.equal(lines.filter((l) => /^\d+ \/usr\/bin\/etcd$/.test(l)).length, 1, out);
      assert.ok(out.includes(`ETCD_NAME=${h.name}\n`));
      assert.ok(out.includes(`ETCD_LISTEN_CLIENT_URLS=http://${h.address}:2379\n`));
    }
  });

  it('the cluster is healthy and serves put/get', async function () {
    const health = await etcdctl(lab, 'endpoint', 'health');
    assert.equal(health.code, 0, health.stderr);
    assert.equal((health.stdout + health.stderr).match(/is healthy/g)?.length, 3);
    assert.equal((await etcdctl(lab, 'put', '/lab/k', 'v1')).code, 0);
    const got = await etcdctl(lab, 'get', '--print-value-only', '/lab/k');
    assert.equal(got.stdout.trim(), 'v1');
  });

  it('a stopped member data dir can be moved (overlay /var/lib) without affecting others', async function () {
    await run(lab, 'etcd-1', 'systemctl stop etcd && mv /var/lib/etcd /var/lib/etcd.moved && test ! -e /var/lib/etcd');
    const other = await run(lab, 'etcd-2', 'ls /var/lib/etcd; test ! -e /var/lib/etcd.moved && echo clean; systemctl is-active etcd');
    assert.match(other, /member/);
    assert.match(other, /clean/);
    assert.match(other, /^active$/m);
    assert.equal((await sh('/usr/bin/test', ['-e', '/var/lib/etcd.moved'])).code, 1, 'the real /var/lib must be untouched');
    // Put the data back: the member rejoins with its old data; `start` blocks until ready.
    await run(lab, 'etcd-1', 'mv /var/lib/etcd.moved /var/lib/etcd && systemctl start etcd && systemctl is-active etcd');
    const health = await etcdctl(lab, 'endpoint', 'health');
    assert.equal(health.code, 0, health.stderr);
  });

  it('systemctl stand-in: start/stop/is-active/status/kill/Restart=, User=, environment', async function () {
    const h = 'etcd-3';
    assert.equal((await hostExec(lab, h, 'systemctl is-active etcd.service')).code, 0);
    assert.equal((await hostExec(lab, h, 'systemctl is-active nope')).code, 3);
    assert.equal((await hostExec(lab, h, 'systemctl start nope')).code, 5);
    assert.equal((await hostExec(lab, h, 'systemctl status nope')).code, 4);
    await run(
      lab,
      h,
      `printf 'A=from-file\\n# comment\\nB="quoted value"\\n' > /etc/default/labdummy
cat > /etc/systemd/system/labdummy.service <<'EOF'
[Unit]
Description=lab dummy
[Service]
User=nobody
Environment=A=from-unit C=unit-only
EnvironmentFile=-/nonexistent
EnvironmentFile=/etc/default/labdummy
ExecStart=/bin/sh -c \\
  'echo "A=$A B=$B C=$C user=$(id -un)" > /tmp/labdummy.out; exec sleep 1000'
Restart=always
RestartSec=200ms
EOF
systemctl daemon-reload && systemctl start labdummy`,
    );
    const out = await run(lab, h, 'systemctl is-active labdummy; cat /tmp/labdummy.out; systemctl show -p MainPID --value labdummy');
    const [state, env, pid1] = out.trim().split('\n');
    assert.equal(state, 'active');
    assert.equal(env, 'A=from-file B=quoted value C=unit-only user=nobody');
    await run(lab, h, 'systemctl kill -s KILL labdummy; sleep 0.6; systemctl is-active labdummy');
    const pid2 = (await run(lab, h, 'systemctl show -p MainPID --value labdummy')).trim();
    assert.notEqual(pid2, pid1, 'Restart=always restarted the unit');
    await run(lab, h, 'systemctl stop labdummy.service');
    const stopped = await hostExec(lab, h, 'systemctl is-active labdummy; pgrep -u nobody -a');
    assert.equal(stopped.stdout.trim(), 'inactive');
    assert.equal((await hostExec(lab, h, 'systemctl status labdummy')).code, 3);
    assert.equal((await hostExec(lab, h, 'systemctl is-active etcd')).code, 0);
  });

  it('up again (while up) works, with a spare host; down leaves nothing running', async function () {
    const oldInits = lab.hosts.map((h) => ({ pid: h.initPid, start: startTime(h.initPid) }));
    assert.ok(oldInits.every((p) => p.start !== null));
    const t0 = Date.now();
    lab = await labUp({ dir: DIR, hosts: 4, members: 3 });
    console.log(`      labUp again (4 hosts, 3 members): ${Date.now() - t0} ms`);
    // (namespace inode numbers get reused, so identify the old inits by PID + start time)
    assert.deepEqual(
      oldInits.filter((p) => startTime(p.pid) === p.start),
      [],
      'the previous lab is gone',
    );
    assert.deepEqual(
      lab.hosts.map((h) => [h.name, h.address, h.member]),
      [
        ['etcd-1', labAddress(11), true],
        ['etcd-2', labAddress(12), true],
        ['etcd-3', labAddress(13), true],
        ['etcd-4', labAddress(14), false],
      ],
    );
    assert.match(readFileSync(lab.inventoryPath, 'utf8'), /spare:\n {4}hosts: \[etcd-4\]/);
    const spare = await hostExec(
      lab,
      'etcd-4',
      'test -f /etc/systemd/system/etcd.service && test ! -e /etc/etcd/etcd.conf && ls -A /var/lib/etcd | wc -l; systemctl is-active etcd',
    );
    assert.equal(spare.stdout, '0\ninactive\n');
    const status = await labStatus(DIR);
    assert.deepEqual(
      status.map((s) => [s.host, s.sshd, s.etcd]),
      [
        ['etcd-1', true, true],
        ['etcd-2', true, true],
        ['etcd-3', true, true],
        ['etcd-4', true, false],
      ],
    );

    // A joining learner (etcd 3.4 `member add --learner`) can never serve a linearizable read, yet
    // `systemctl start` must return once it is up, as real systemd does for Type=notify.
    let added = { code: 1, stdout: '', stderr: '' };
    for (let i = 0; i < 20 && added.code !== 0; i++) {
      added = await etcdctl(lab, 'member', 'add', 'etcd-4', `--peer-urls=http://${labAddress(14)}:2380`, '--learner');
      if (added.code !== 0) await new Promise((r) => setTimeout(r, 500)); // "unhealthy cluster" for ~5 s after start
    }
    assert.equal(added.code, 0, added.stderr);
    await run(
      lab,
      'etcd-4',
      `printf '%s\n' ETCD_NAME=etcd-4 ETCD_DATA_DIR=/var/lib/etcd ETCD_LISTEN_PEER_URLS=http://${labAddress(14)}:2380 ETCD_LISTEN_CLIENT_URLS=http://${labAddress(14)}:2379 ETCD_ADVERTISE_CLIENT_URLS=http://${labAddress(14)}:2379 ETCD_INITIAL_ADVERTISE_PEER_URLS=http://${labAddress(14)}:2380 ETCD_INITIAL_CLUSTER=etcd-1=http://${labAddress(11)}:2380,etcd-2=http://${labAddress(12)}:2380,etcd-3=http://${labAddress(13)}:2380,etcd-4=http://${labAddress(14)}:2380 ETCD_INITIAL_CLUSTER_STATE=existing > /etc/etcd/etcd.conf`,
    );
    const t2 = Date.now();
    const started = await hostExec(lab, 'etcd-4', 'systemctl start etcd', { timeoutMs: 100_000 });
    const startMs = Date.now() - t2;
    console.log(`      systemctl start etcd of a joining learner: ${startMs} ms`);
    assert.equal(started.code, 0, started.stderr);
    const members = await etcdctl(lab, 'member', 'list', '--write-out=json');
    assert.match(
      members.stdout,
      /"name":"etcd-4","peerURLs":\["http:\/\/127\.0\.\d+\.14:2380"\],"clientURLs":\["http:\/\/127\.0\.\d+\.14:2379"\],"isLearner":true/,
    );

    const ns = new Set(lab.hosts.map((h) => pidNsOf(h.initPid)).filter((x): x is string => x !== null));
    const pids = lab.hosts.map((h) => h.initPid);
    const t1 = Date.now();
    await labDown(DIR);
    console.log(`      labDown: ${Date.now() - t1} ms`);
    assert.deepEqual(processesIn(ns), []);
    for (const p of pids) assert.equal(pidNsOf(p), null, `pid ${p} still exists`);
    const after = await labStatus(DIR);
    assert.equal(after.length, 4);
    assert.ok(
      after.every((s) => !s.sshd && !s.etcd),
      JSON.stringify(after),
    );
    assert.throws(() => loadLab(DIR), /down/);
    await labDown(DIR); // idempotent
  });
});

describe('test lab in the production shape: etcd 3.5 from Debian + TLS (127.0.0.101-103)', function () {
  this.timeout(120_000);
  const DIR35 = path.join(REPO, '.runbook/lab-e2e-35');
  let lab: Lab;

  before(async function () {
    const t0 = Date.now();
    lab = await labUp({ dir: DIR35, hosts: 3, firstOctet: 101, etcdVersion: '3.5', tls: true });
    console.log(`      labUp(3 hosts, etcd ${lab.etcdVersion}, ${lab.scheme}): ${Date.now() - t0} ms`);
  });

  after(async function () {
    await labDown(DIR35);
  });

  it('every host runs etcd 3.5 with etcdctl and etcdutl at the usual paths; the machine keeps its own 3.4', async function () {
    assert.match(lab.etcdVersion, /^3\.5\.\d+$/);
    for (const h of lab.hosts) {
      const out = await run(lab, h.name, 'etcd --version; etcdctl version; etcdutl version; command -v etcd etcdctl etcdutl');
      assert.match(out, new RegExp(`^etcd Version: ${lab.etcdVersion.replace(/\./g, '\\.')}$`, 'm'));
      assert.match(out, /^etcdctl version: 3\.5\./m);
      assert.match(out, /^etcdutl version: 3\.5\./m);
      assert.match(out, /^\/usr\/bin\/etcd\n\/usr\/bin\/etcdctl\n\/usr\/bin\/etcdutl$/m);
      // the running member is that etcd (its /proc exe resolves inside the host's /usr/bin overlay)
      const pid = (await run(lab, h.name, 'systemctl show -p MainPID --value etcd')).trim();
      assert.match(await run(lab, h.name, `/proc/${pid}/exe --version`), /^etcd Version: 3\.5\./m);
    }
    const machine = await sh('/usr/bin/etcd', ['--version']);
    assert.match(machine.stdout, /^etcd Version: 3\.4\./m, "the machine's own etcd is untouched");
    assert.equal((await sh('/bin/sh', ['-c', 'test -e /usr/bin/etcdutl'])).code, 1, 'no etcdutl installed on the machine');
  });

  it('TLS: https only, a client certificate is required, certificates carry name, address and 127.0.0.1', async function () {
    const h = lab.hosts[0];
    assert.ok(h);
    const url = `https://${h.address}:2379`;
    assert.deepEqual(
      lab.clientUrls,
      lab.hosts.map((x) => `https://${x.address}:2379`),
    );
    const pki = '/etc/etcd/pki';
    const ok = await run(lab, h.name, `curl -sS --cacert ${pki}/ca.crt --cert ${pki}/etcdctl.crt --key ${pki}/etcdctl.key ${url}/health`);
    assert.match(ok, /"health":"true"/);
    const noCert = await hostExec(lab, h.name, `curl -sS --cacert ${pki}/ca.crt ${url}/health`);
    assert.notEqual(noCert.code, 0, `served without a client certificate: ${noCert.stdout}`);
    const plain = await hostExec(lab, h.name, `curl -sS --max-time 5 http://${h.address}:2379/health`);
    assert.doesNotMatch(plain.stdout, /"health":"true"/, 'plain http served');
    for (const kind of ['server', 'peer']) {
      const cert = `openssl x509 -in ${pki}/${kind}.crt -noout -ext subjectAltName,extendedKeyUsage`;
      const text = await run(lab, h.name, `${cert}; stat -c '%U %a' ${pki}/${kind}.key`);
      for (const san of [`DNS:${h.name}`, `IP Address:${h.address}`, 'IP Address:127.0.0.1']) {
        assert.ok(text.includes(san), `${kind}.crt lacks ${san}:\n${text}`);
      }
      assert.match(text, /TLS Web Server Authentication, TLS Web Client Authentication/);
      assert.match(text, /^etcd 600$/m, `${kind}.key must be readable by etcd only`);
    }
    const conf = await run(lab, h.name, 'cat /etc/etcd/etcd.conf');
    const want = ['ETCD_CLIENT_CERT_AUTH=true', 'ETCD_PEER_CLIENT_CERT_AUTH=true', `ETCD_TRUSTED_CA_FILE=${pki}/ca.crt`];
    want.push(`ETCD_LISTEN_PEER_URLS=https://${h.address}:2380`);
    for (const line of want) {
      assert.ok(conf.split('\n').includes(line), `etcd.conf lacks ${line}`);
    }
    const inv = readFileSync(lab.inventoryPath, 'utf8');
    assert.match(inv, /^ {2}scheme: https$/m);
    assert.match(inv, /^ {4}peer_cert: \/etc\/etcd\/pki\/peer\.crt$/m);
  });

  it('a 3.5 that cannot be fetched is an error naming suite and packages; nothing falls back to 3.4, no lab starts', async function () {
    const cache = path.join(REPO, '.runbook/fetch-etcd-fail');
    const saved = { ...process.env };
    Object.assign(process.env, { RUNBOOK_ETCD_REFRESH: '1', RUNBOOK_ETCD_SUITES: 'no-such-suite', RUNBOOK_LAB_CACHE: cache });
    const failDir = path.join(REPO, '.runbook/lab-e2e-35-fail');
    try {
      await assert.rejects(labUp({ dir: failDir, hosts: 1, firstOctet: 104, etcdVersion: '3.5', tls: true }), (e: Error) => {
        assert.match(e.message, /cannot get etcd 3\.5/);
        assert.match(e.message, /Debian suite\(s\) 'no-such-suite'/);
        assert.match(e.message, /etcd-server etcd-client/);
        return true;
      });
    } finally {
      for (const k of ['RUNBOOK_ETCD_REFRESH', 'RUNBOOK_ETCD_SUITES', 'RUNBOOK_LAB_CACHE']) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    }
    assert.throws(() => loadLab(failDir), /no lab state/);
  });
});
