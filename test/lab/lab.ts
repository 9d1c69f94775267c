// Test lab: N "hosts" on 127.0.0.(firstOctet+i), each a real OpenSSH sshd with its own host
// key, in its own mount/uts/pid namespaces, optionally running a real etcd member started
// through a systemctl stand-in (test/lab/systemctl-standin.sh). Used by e2e tests, the demo and
// benchmarks. Needs root, util-linux (unshare, nsenter), openssh-server, etcd-server, openssl.
//
// A lab's shape: the etcd minor version (3.4 = the machine's own Debian package; 3.5 = Debian's
// packages from a newer suite, fetched by test/lab/fetch-etcd.sh and laid over /usr/bin inside
// each host's mount namespace) and http or TLS (a CA and per-member certificates made with
// openssl, at the paths inventories/prod-3-https.yml names).
//
// Rules kept here: only 127.0.0.0/8 addresses; only processes this module started are ever
// signalled, by recorded PID (checked against their recorded start time); `labDown` kills the
// namespace inits, which takes everything inside each host down with them.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import * as https from 'node:https';
import { openSync, closeSync, readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  DEFAULT_KUBELET_PERIOD_SEC,
  installKubeadmPki,
  KUBEADM_TLS,
  prepareStaticPodHost,
  startKubeletCmd,
  staticPodClusterYaml,
  type Deployment,
} from './static-pod.js';

export interface LabHost {
  name: string;
  address: string;
  initPid: number;
  stateDir: string;
  member: boolean;
}

/** Controller-side copies of the lab CA and the client certificate (for tests talking to etcd). */
export interface LabTls {
  ca: string;
  cert: string;
  key: string;
}

export type EtcdMinor = '3.4' | '3.5';

export interface Lab {
  dir: string;
  deployment: Deployment;
  hosts: LabHost[];
  inventoryPath: string;
  keyPath: string;
  knownHostsPath: string;
  clientUrls: string[];
  /** The full etcd version every host runs (`etcd --version`), e.g. 3.4.23 or 3.5.30. */
  etcdVersion: string;
  /** Where that etcd comes from, e.g. "etcd 3.5.30 (Debian sid 3.5.30-2, …) in /var/cache/runbook-lab/etcd-3.5.30". */
  etcdSource: string;
  scheme: 'http' | 'https';
  tls?: LabTls;
}

export interface LabUpOptions {
  dir?: string;
  hosts?: number;
  members?: number;
  etcd?: boolean;
  firstOctet?: number;
  quotaBytes?: number;
  /** etcd minor version of every host (default 3.4, the machine's own). */
  etcdVersion?: EtcdMinor;
  /** https client and peer URLs with client-certificate auth (default false). */
  tls?: boolean;
  /** systemd (default: etcd under the systemctl stand-in) or static-pod (kubeadm: the kubelet stand-in, see static-pod.ts). */
  deployment?: Deployment;
  /** static-pod: seconds between the kubelet stand-in's manifest checks (default DEFAULT_KUBELET_PERIOD_SEC). */
  kubeletPeriodSec?: number;
}

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface HostState extends LabHost {
  initStart: string;
  unsharePid: number;
  unshareStart: string;
}

/** What lab.json holds: the Lab as returned, with the PIDs that let labDown end exactly what it started. */
interface LabState extends Omit<Lab, 'hosts' | 'deployment'> {
  version: 1;
  status: 'up' | 'down';
  etcd: boolean;
  quotaBytes?: number;
  deployment?: Deployment;
  hosts: HostState[];
}

const STATE_FILE = 'lab.json';

/**
 * Third octet of every lab address: 127.0.LAB_NET.x (default 0). Lets two checkouts run their
 * e2e suites side by side on one machine without their hosts colliding.
 */
export function labNet(): number {
  const v = process.env.LAB_NET;
  if (v === undefined || v === '') return 0;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 254) throw new Error(`lab: LAB_NET must be 0..254, got ${v}`);
  return n;
}

/** A lab address: 127.0.LAB_NET.octet. */
export function labAddress(octet: number): string {
  return `127.0.${labNet()}.${octet}`;
}
const TOKEN = 'lab-cluster';
/** Where the TLS files sit on every host: the paths inventories/prod-3-https.yml names. */
const PKI = '/etc/etcd/pki';
const SYS_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const CLEAN_ENV = { PATH: SYS_PATH, HOME: '/root', USER: 'root', LOGNAME: 'root', SHELL: '/bin/bash', LANG: 'C.UTF-8' };
const HOST_EXEC_DEFAULT_TIMEOUT_MS = 300_000;
/** Real-filesystem directories the hosts mount over; created (empty) if missing. */
const MOUNT_POINTS = ['/etc/etcd', '/etc/kubernetes', '/etc/systemd/system', '/run/lab', '/var/backups'];

// ---------------------------------------------------------------------------------------------
// paths

function findRepoRoot(): string {
  let d = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(d, 'package.json')) && existsSync(path.join(d, 'test/lab/systemctl-standin.sh'))) return d;
    const up = path.dirname(d);
    if (up === d) throw new Error('lab: cannot find the repository root (test/lab/systemctl-standin.sh)');
    d = up;
  }
}

const REPO_ROOT = findRepoRoot();
const LAB_SRC = path.join(REPO_ROOT, 'test/lab');

function resolveDir(dir?: string): string {
  return path.resolve(dir ?? path.join(REPO_ROOT, '.runbook/lab'));
}

// ---------------------------------------------------------------------------------------------
// small process helpers

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Start time (clock ticks since boot) of a live, non-zombie process, or null. */
function procStart(pid: number): string | null {
  if (!Number.isInteger(pid) || pid <= 1) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (rest[0] === 'Z' || rest[0] === 'X') return null;
    return rest[19] ?? null; // field 22 (starttime); rest[0] is field 3
  } catch {
    return null;
  }
}

/** True if `pid` is alive and is the very process recorded (same start time). */
function isOurs(pid: number, start: string): boolean {
  return start !== '' && procStart(pid) === start;
}

function run(cmd: string, args: string[], opts: { timeoutMs?: number } = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: CLEAN_ENV, cwd: '/', stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      if (timer) clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function mustRun(cmd: string, args: string[]): Promise<string> {
  const r = await run(cmd, args, { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`lab: ${cmd} ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** Resolves true if something accepts TCP connections on address:port. */
function tcpOpen(address: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: address, port });
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

async function tail(file: string, lines = 20): Promise<string> {
  try {
    const t = await fs.readFile(file, 'utf8');
    return t.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

// ---------------------------------------------------------------------------------------------
// state

function statePath(dir: string): string {
  return path.join(dir, STATE_FILE);
}

function readState(dir: string): LabState | null {
  try {
    return JSON.parse(readFileSync(statePath(dir), 'utf8')) as LabState;
  } catch {
    return null;
  }
}

async function writeState(st: LabState): Promise<void> {
  const tmp = `${statePath(st.dir)}.tmp`;
  await fs.writeFile(tmp, JSON.stringify(st, null, 2) + '\n');
  await fs.rename(tmp, statePath(st.dir));
}

function toLab(st: LabState): Lab {
  return {
    dir: st.dir,
    deployment: st.deployment ?? 'systemd',
    hosts: st.hosts.map((h) => ({ name: h.name, address: h.address, initPid: h.initPid, stateDir: h.stateDir, member: h.member })),
    inventoryPath: st.inventoryPath,
    keyPath: st.keyPath,
    knownHostsPath: st.knownHostsPath,
    clientUrls: [...st.clientUrls],
    etcdVersion: st.etcdVersion,
    etcdSource: st.etcdSource,
    scheme: st.scheme,
    tls: st.tls ? { ...st.tls } : undefined,
  };
}

/** Read the state file written by labUp. Throws if the lab in `dir` is not up. */
export function loadLab(dir?: string): Lab {
  const d = resolveDir(dir);
  const st = readState(d);
  if (!st) throw new Error(`lab: no lab state in ${d} (run labUp / \`npm run lab -- up\`)`);
  if (st.status !== 'up') throw new Error(`lab: the lab in ${d} is down`);
  return toLab(st);
}

// ---------------------------------------------------------------------------------------------
// file rendering

/** Default backend quota of a lab member (4 GiB, a common production value; compact-defrag sets a small one). */
const DEFAULT_QUOTA = 4 * 1024 * 1024 * 1024;

/**
 * The settings an operator's etcd config carries beside membership (as a kubespray-made
 * /etc/etcd.env does), one line each. Playbooks must leave every one of them as it is:
 * test/e2e/playbook-*.test.ts compare these lines before and after each run.
 */
export function operatorSettings(address: string, quotaBytes = DEFAULT_QUOTA): string[] {
  return [
    `ETCD_QUOTA_BACKEND_BYTES=${quotaBytes}`,
    'ETCD_HEARTBEAT_INTERVAL=120',
    'ETCD_ELECTION_TIMEOUT=1200',
    'ETCD_SNAPSHOT_COUNT=10000',
    `ETCD_LISTEN_METRICS_URLS=http://${address}:2381`,
    'ETCD_AUTO_COMPACTION_MODE=periodic',
    'ETCD_AUTO_COMPACTION_RETENTION=8',
    'ETCD_LOG_LEVEL=info',
  ];
}

function etcdConf(h: { name: string; address: string }, members: { name: string; address: string }[], scheme: 'http' | 'https', quotaBytes?: number): string {
  const lines = [
    `ETCD_NAME=${h.name}`,
    'ETCD_DATA_DIR=/var/lib/etcd',
    `ETCD_LISTEN_PEER_URLS=${scheme}://${h.address}:2380`,
    `ETCD_LISTEN_CLIENT_URLS=${scheme}://${h.address}:2379`,
    `ETCD_ADVERTISE_CLIENT_URLS=${scheme}://${h.address}:2379`,
    `ETCD_INITIAL_ADVERTISE_PEER_URLS=${scheme}://${h.address}:2380`,
    `ETCD_INITIAL_CLUSTER=${members.map((m) => `${m.name}=${scheme}://${m.address}:2380`).join(',')}`,
    'ETCD_INITIAL_CLUSTER_STATE=new',
    `ETCD_INITIAL_CLUSTER_TOKEN=${TOKEN}`,
  ];
  if (scheme === 'https') {
    // The same keys, in the same order, as runbook's etcd_config writes (engine/modules etcdConfLines).
    lines.push(
      `ETCD_TRUSTED_CA_FILE=${PKI}/ca.crt`,
      `ETCD_CERT_FILE=${PKI}/server.crt`,
      `ETCD_KEY_FILE=${PKI}/server.key`,
      'ETCD_CLIENT_CERT_AUTH=true',
      `ETCD_PEER_TRUSTED_CA_FILE=${PKI}/ca.crt`,
      `ETCD_PEER_CERT_FILE=${PKI}/peer.crt`,
      `ETCD_PEER_KEY_FILE=${PKI}/peer.key`,
      'ETCD_PEER_CLIENT_CERT_AUTH=true',
    );
  }
  lines.push(...operatorSettings(h.address, quotaBytes));
  return lines.join('\n') + '\n';
}

const ETCD_UNIT = `[Unit]
Description=etcd - highly-available key value store
Documentation=https://etcd.io/docs
After=network-online.target
Wants=network-online.target

[Service]
Type=notify
User=etcd
EnvironmentFile=/etc/etcd/etcd.conf
ExecStart=/usr/bin/etcd
Restart=on-failure
RestartSec=5s
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
`;

function sshdConfig(address: string): string {
  return `# runbook lab sshd (${address})
ListenAddress ${address}:22
HostKey /run/lab/ssh/ssh_host_ed25519_key
PidFile /run/lab/sshd.pid
AuthorizedKeysFile /run/lab/ssh/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes yes
UseDNS no
X11Forwarding no
PrintMotd no
PrintLastLog no
MaxSessions 100
MaxStartups 200:30:400
AcceptEnv LANG LC_*
Subsystem sftp internal-sftp
LogLevel INFO
`;
}

/**
 * The lab's inventory. With TLS it is shaped like inventories/prod-3-https.yml (the same cluster
 * settings; only names, addresses and paths differ: test/e2e/lab-inventory-parity.test.ts).
 */
function inventoryYaml(
  dir: string,
  hosts: { name: string; address: string; member: boolean }[],
  etcdVersion: string,
  tls: boolean,
  deployment: Deployment = 'systemd',
): string {
  if (deployment === 'static-pod') return staticPodInventory(dir, hosts, etcdVersion, tls);
  const schema = path.relative(dir, path.join(REPO_ROOT, 'schemas/inventory.schema.json'));
  const members = hosts.filter((h) => h.member).map((h) => h.name);
  const spares = hosts.filter((h) => !h.member).map((h) => h.name);
  const out = [
    `# yaml-language-server: $schema=${schema}`,
    '# Generated by test/lab (labUp). Paths are relative to this file.',
    'cluster:',
    '  name: lab',
    `  etcd_version: "${etcdVersion}"`,
    '  deployment: systemd',
    `  scheme: ${tls ? 'https' : 'http'}`,
    `  token: ${TOKEN}`,
    '  data_dir: /var/lib/etcd',
    '  backup_dir: /var/backups/etcd',
    '  controller_backup_dir: ./backups',
    '  config_file: /etc/etcd/etcd.conf',
  ];
  if (tls) {
    out.push(
      '  backup_retention: 24',
      // as prod-3-https.yml: kube-apiservers depend on it, so a restore bumps the revision
      '  bump_revision: 1000000000',
      '  tls:',
      `    ca: ${PKI}/ca.crt`,
      `    cert: ${PKI}/etcdctl.crt`,
      `    key: ${PKI}/etcdctl.key`,
      `    server_cert: ${PKI}/server.crt`,
      `    server_key: ${PKI}/server.key`,
      `    peer_cert: ${PKI}/peer.crt`,
      `    peer_key: ${PKI}/peer.key`,
      // The lab has no control-plane hosts (the group is empty): the setting is there as in prod.
      '  dependents:',
      '    - group: kube_control_plane',
      '      services: [kube-apiserver]',
    );
  }
  out.push(...sshAndHostsYaml(hosts, tls ? ['  connect_timeout: 10', '  keepalive: 5'] : []), 'groups:', '  etcd:', `    hosts: [${members.join(', ')}]`);
  if (spares.length > 0) out.push('  spare:', `    hosts: [${spares.join(', ')}]`);
  if (tls) out.push('  kube_control_plane:', '    hosts: []');
  return out.join('\n') + '\n';
}

/** The ssh: block (the lab key, strict host-key checking) and hosts: with their addresses, for both lab inventories. */
function sshAndHostsYaml(hosts: { name: string; address: string }[], extraSsh: string[] = []): string[] {
  return [
    'ssh:',
    '  user: root',
    '  port: 22',
    '  identity_file: ./id_ed25519',
    '  known_hosts: ./known_hosts',
    '  host_key_checking: strict',
    ...extraSsh,
    'hosts:',
    ...hosts.flatMap((h) => [`  ${h.name}:`, `    address: ${h.address}`]),
  ];
}

/** The static-pod lab's inventory, shaped like inventories/kubeadm-static-pod.yml (test/unit/lab-static-pod-parity.test.ts). */
function staticPodInventory(dir: string, hosts: { name: string; address: string; member: boolean }[], etcdVersion: string, tls: boolean): string {
  const schema = path.relative(dir, path.join(REPO_ROOT, 'schemas/inventory.schema.json'));
  const members = hosts.filter((h) => h.member).map((h) => h.name);
  const spares = hosts.filter((h) => !h.member).map((h) => h.name);
  const out = [
    `# yaml-language-server: $schema=${schema}`,
    '# Generated by test/lab (labUp, deployment static-pod). Paths are relative to this file.',
    'cluster:',
    '  name: lab',
    ...staticPodClusterYaml({ version: etcdVersion, token: TOKEN, scheme: tls ? 'https' : 'http', tls: tls ? KUBEADM_TLS : undefined }),
    ...sshAndHostsYaml(hosts),
    'groups:',
    '  etcd:',
    `    hosts: [${members.join(', ')}]`,
    // kubeadm: every control-plane node runs kube-apiserver (the dependent) beside its etcd member.
    '  control_plane:',
    `    hosts: [${members.join(', ')}]`,
  ];
  if (spares.length > 0) out.push('  spare:', `    hosts: [${spares.join(', ')}]`);
  return out.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------
// etcd versions

interface EtcdBuild {
  /** Full version, from `etcd --version`. */
  version: string;
  /** Directory whose usr/bin is laid over the hosts' /usr/bin, or null for the machine's own. */
  root: string | null;
  /** Where it comes from, for the output. */
  source: string;
}

async function etcdVersionOf(bin: string): Promise<string> {
  const r = await run(bin, ['--version'], { timeoutMs: 10_000 }).catch((e: unknown) => ({ code: 1, stdout: '', stderr: String(e) }));
  const v = /^etcd Version: (\S+)/m.exec(r.stdout)?.[1];
  if (r.code !== 0 || !v) throw new Error(`lab: ${bin} --version failed: ${r.stderr.trim() || r.stdout.trim()}`);
  return v;
}

/**
 * The etcd build for a minor version. 3.4 is the machine's own Debian package; any other comes
 * from test/lab/fetch-etcd.sh (Debian's newer suites, cached in /var/cache/runbook-lab). Never
 * falls back to another version: a fetch failure is an error naming suite and packages.
 */
export async function resolveEtcd(minor: EtcdMinor): Promise<EtcdBuild> {
  if (minor === '3.4') {
    const version = await etcdVersionOf('/usr/bin/etcd');
    if (!version.startsWith('3.4.')) throw new Error(`lab: the machine's /usr/bin/etcd is ${version}, not 3.4`);
    return { version, root: null, source: `etcd ${version}, the machine's own (/usr/bin/etcd)` };
  }
  const env: Record<string, string> = { ...CLEAN_ENV };
  for (const [k, v] of Object.entries(process.env)) if (k.startsWith('RUNBOOK_') && v !== undefined) env[k] = v;
  const r = await new Promise<ExecResult>((resolve, reject) => {
    const child = spawn('/bin/bash', [path.join(LAB_SRC, 'fetch-etcd.sh'), minor], { env, cwd: '/', stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (x: string) => (stdout += x));
    child.stderr.setEncoding('utf8').on('data', (x: string) => (stderr += x));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  const root = r.stdout.trim().split('\n').pop() ?? '';
  if (r.code !== 0 || root === '') throw new Error(`lab: cannot get etcd ${minor}:\n${r.stderr.trim()}`);
  const version = await etcdVersionOf(path.join(root, 'usr/bin/etcd'));
  if (!version.startsWith(`${minor}.`)) throw new Error(`lab: ${root} has etcd ${version}, not ${minor}`);
  const marker = readFileSync(path.join(root, '.runbook-etcd'), 'utf8').split('\n')[0] ?? `etcd ${version}`;
  return { version, root, source: `${marker} in ${root}` };
}

// ---------------------------------------------------------------------------------------------
// TLS

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'];

async function openssl(args: string[]): Promise<void> {
  await mustRun('/usr/bin/openssl', args);
}

/** A key and a certificate signed by the lab CA (dir/ca.crt, dir/ca.key). */
async function issue(dir: string, base: string, cn: string, ext: string[]): Promise<void> {
  const f = (x: string): string => path.join(dir, `${base}.${x}`);
  await openssl(['req', '-new', ...EC_KEY, '-nodes', '-keyout', f('key'), '-subj', `/CN=${cn}`, '-out', f('csr')]);
  await fs.writeFile(f('ext'), ext.join('\n') + '\n');
  const ca = ['-CA', path.join(dir, 'ca.crt'), '-CAkey', path.join(dir, 'ca.key'), '-set_serial', `0x${randomBytes(16).toString('hex')}`];
  await openssl(['x509', '-req', '-in', f('csr'), ...ca, '-days', '3650', '-extfile', f('ext'), '-out', f('crt')]);
  await Promise.all([fs.rm(f('csr')), fs.rm(f('ext'))]);
}

/**
 * The lab PKI in dir/pki: a CA; per member a server and a peer certificate whose SANs carry its
 * name, its address and 127.0.0.1; a client certificate for etcdctl. Why 127.0.0.1: every host
 * shares one network namespace, so a peer's connection comes from 127.0.0.1 (the loopback route's
 * source address) and etcd checks a peer's client certificate against the source IP. Server
 * certificates carry clientAuth too: etcd's grpc-gateway dials its own client port with them.
 */
async function makePki(dir: string, hosts: { name: string; address: string }[]): Promise<void> {
  const pki = path.join(dir, 'pki');
  await fs.rm(pki, { recursive: true, force: true });
  await fs.mkdir(pki, { recursive: true, mode: 0o700 });
  const caFiles = ['-keyout', path.join(pki, 'ca.key'), '-out', path.join(pki, 'ca.crt')];
  await openssl(['req', '-x509', '-new', ...EC_KEY, '-nodes', ...caFiles, '-subj', '/CN=runbook-lab-ca', '-days', '3650']);
  const leaf = (eku: string, sans: string[]): string[] => [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    `extendedKeyUsage=${eku}`,
    ...(sans.length > 0 ? [`subjectAltName=${sans.join(',')}`] : []),
  ];
  await Promise.all([
    issue(pki, 'etcdctl', 'etcdctl', leaf('clientAuth', [])),
    ...hosts.flatMap((h) => {
      const sans = [`DNS:${h.name}`, `IP:${h.address}`, 'IP:127.0.0.1', 'DNS:localhost'];
      return ['server', 'peer'].map(async (kind) => {
        await issue(pki, `${h.name}-${kind}`, h.name, leaf('serverAuth,clientAuth', sans));
        await fs.mkdir(path.join(pki, h.name), { recursive: true });
        for (const x of ['crt', 'key']) await fs.rename(path.join(pki, `${h.name}-${kind}.${x}`), path.join(pki, h.name, `${kind}.${x}`));
      });
    }),
  ]);
}

function etcdIds(): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('etcd:'));
  const [, , uid, gid] = (line ?? '').split(':');
  if (uid === undefined || gid === undefined) throw new Error('lab: no etcd user on this machine (install etcd-server)');
  return { uid: Number(uid), gid: Number(gid) };
}

/** Copy the CA, the client certificate and this member's own certificates into its /etc/etcd/pki. */
async function installPki(dir: string, h: { name: string; stateDir: string }): Promise<void> {
  const src = path.join(dir, 'pki');
  const dst = path.join(h.stateDir, 'etc-etcd/pki');
  await fs.mkdir(dst, { recursive: true, mode: 0o755 });
  const { uid, gid } = etcdIds();
  const copy = async (from: string, to: string, mode: number, etcdOwned: boolean): Promise<void> => {
    await fs.copyFile(from, path.join(dst, to));
    await fs.chmod(path.join(dst, to), mode);
    if (etcdOwned) await fs.chown(path.join(dst, to), uid, gid);
  };
  await copy(path.join(src, 'ca.crt'), 'ca.crt', 0o644, false);
  await copy(path.join(src, 'etcdctl.crt'), 'etcdctl.crt', 0o644, false);
  await copy(path.join(src, 'etcdctl.key'), 'etcdctl.key', 0o600, false);
  // Spares too (replace-member makes one a member). etcd runs as User=etcd: its keys must be readable by it.
  for (const kind of ['server', 'peer']) {
    await copy(path.join(src, h.name, `${kind}.crt`), `${kind}.crt`, 0o644, true);
    await copy(path.join(src, h.name, `${kind}.key`), `${kind}.key`, 0o600, true);
  }
}

async function ensureKey(file: string, comment: string): Promise<string> {
  if (!existsSync(file) || !existsSync(`${file}.pub`)) {
    await fs.rm(file, { force: true });
    await fs.rm(`${file}.pub`, { force: true });
    await mustRun('/usr/bin/ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file]);
  }
  await fs.chmod(file, 0o600);
  return (await fs.readFile(`${file}.pub`, 'utf8')).trim();
}

// ---------------------------------------------------------------------------------------------
// host start

async function prepareHost(
  h: { name: string; address: string; member: boolean; stateDir: string },
  all: { name: string; address: string; member: boolean }[],
  clientPub: string,
  hostKey: string,
  quotaBytes: number | undefined,
  scheme: 'http' | 'https',
  pod?: { version: string; etcdRoot: string; tls: boolean },
): Promise<void> {
  const s = h.stateDir;
  const mk = (p: string, mode = 0o755): Promise<void> => fs.mkdir(path.join(s, p), { recursive: true }).then(() => fs.chmod(path.join(s, p), mode));
  await Promise.all([
    mk('etc-etcd'),
    mk('etc-kubernetes'),
    mk('etc-systemd-system/multi-user.target.wants'),
    mk('run-lab/ssh', 0o700),
    mk('var-backups'),
    mk('var-lib-upper'),
    mk('var-lib-work'),
    mk('usr-bin-upper'),
    mk('usr-bin-work'),
    mk('tmp', 0o1777),
    mk('root', 0o700),
    mk('bin'),
  ]);
  await fs.chmod(path.join(s, 'run-lab'), 0o755);
  const members = all.filter((m) => m.member);
  const hostsFile = '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' + all.map((x) => `${x.address}\t${x.name}`).join('\n') + '\n';
  await Promise.all([
    fs.writeFile(path.join(s, 'etc-hosts'), hostsFile),
    fs.writeFile(path.join(s, 'etc-hostname'), `${h.name}\n`),
    // static-pod: a kubeadm node has no etcd unit (`systemctl stop etcd` fails there as on the real thing).
    ...(pod
      ? [
          prepareStaticPodHost({
            ...{ stateDir: s, labSrc: LAB_SRC, host: h, member: h.member, members, scheme, tls: pod.tls },
            ...{ version: pod.version, etcdRoot: pod.etcdRoot, operatorEnv: operatorSettings(h.address, quotaBytes) },
          }),
        ]
      : [
          fs.writeFile(path.join(s, 'etc-systemd-system/etcd.service'), ETCD_UNIT),
          fs.symlink('/etc/systemd/system/etcd.service', path.join(s, 'etc-systemd-system/multi-user.target.wants/etcd.service')),
          h.member ? fs.writeFile(path.join(s, 'etc-etcd/etcd.conf'), etcdConf(h, members, scheme, quotaBytes)) : Promise.resolve(),
        ]),
    fs.writeFile(path.join(s, 'run-lab/ssh/sshd_config'), sshdConfig(h.address)),
    fs.writeFile(path.join(s, 'run-lab/ssh/authorized_keys'), clientPub + '\n', { mode: 0o600 }),
    fs.copyFile(hostKey, path.join(s, 'run-lab/ssh/ssh_host_ed25519_key')),
    fs.copyFile(`${hostKey}.pub`, path.join(s, 'run-lab/ssh/ssh_host_ed25519_key.pub')),
    fs.copyFile(path.join(LAB_SRC, 'systemctl-standin.sh'), path.join(s, 'bin/systemctl')),
    fs.copyFile(path.join(LAB_SRC, 'host-init.sh'), path.join(s, 'bin/host-init.sh')),
  ]);
  await Promise.all([
    fs.chmod(path.join(s, 'run-lab/ssh/ssh_host_ed25519_key'), 0o600),
    fs.chmod(path.join(s, 'bin/systemctl'), 0o755),
    fs.chmod(path.join(s, 'bin/host-init.sh'), 0o755),
  ]);
}

/** Spawn the namespace init of one host; returns the recorded PIDs. */
async function spawnHost(
  h: { name: string; stateDir: string },
  etcdRoot: string | null,
): Promise<{ unsharePid: number; unshareStart: string; initPid: number; initStart: string }> {
  const logFd = openSync(path.join(h.stateDir, 'init.log'), 'a');
  let child;
  try {
    child = spawn(
      '/usr/bin/unshare',
      [
        ...['--mount', '--uts', '--pid', '--fork', '--mount-proc', '--propagation', 'private', '--'],
        ...['/bin/bash', path.join(h.stateDir, 'bin/host-init.sh'), h.stateDir, h.name, etcdRoot ? path.join(etcdRoot, 'usr/bin') : ''],
      ],
      { detached: true, stdio: ['ignore', logFd, logFd], env: CLEAN_ENV, cwd: '/' },
    );
  } finally {
    closeSync(logFd);
  }
  child.on('error', () => undefined);
  child.unref();
  const unsharePid = child.pid;
  if (unsharePid === undefined) throw new Error(`lab: could not spawn unshare for ${h.name}`);
  const unshareStart = procStart(unsharePid) ?? '';
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    let kids = '';
    try {
      kids = readFileSync(`/proc/${unsharePid}/task/${unsharePid}/children`, 'utf8').trim();
    } catch {
      /* unshare gone */
    }
    const initPid = Number(kids.split(' ')[0]);
    if (initPid > 1) {
      const initStart = procStart(initPid);
      if (initStart) return { unsharePid, unshareStart, initPid, initStart };
    }
    if (!procStart(unsharePid)) break;
    await sleep(5);
  }
  throw new Error(`lab: ${h.name}: namespace init did not start\n${await tail(path.join(h.stateDir, 'init.log'))}`);
}

async function waitHostReady(h: HostState): Promise<void> {
  const deadline = Date.now() + 15_000;
  // sshd writes its PidFile only after it is listening: proves it is *our* sshd on the port.
  const pidFile = path.join(h.stateDir, 'run-lab/sshd.pid');
  while (Date.now() < deadline) {
    if (!isOurs(h.initPid, h.initStart)) break;
    if (existsSync(pidFile) && (await tcpOpen(h.address, 22, 500))) return;
    await sleep(10);
  }
  const logs = [await tail(path.join(h.stateDir, 'init.log')), await tail(path.join(h.stateDir, 'run-lab/sshd.log'))].filter(Boolean).join('\n');
  throw new Error(`lab: ${h.name} (${h.address}): sshd did not come up\n${logs}`);
}

/**
 * An HTTP(S) request to a lab etcd (its JSON gateway or /health): with TLS, the lab CA and client
 * certificate are used (node's fetch cannot present a client certificate). Resolves with the
 * status and the parsed JSON body (null if the body is not JSON).
 */
export function labRequest(lab: Pick<Lab, 'tls'>, url: string, body?: unknown, timeoutMs = 5000): Promise<{ status: number; json: unknown }> {
  const u = new URL(url);
  const data = body === undefined ? undefined : JSON.stringify(body);
  const tlsOpts = u.protocol === 'https:' && lab.tls ? { ca: readFileSync(lab.tls.ca), cert: readFileSync(lab.tls.cert), key: readFileSync(lab.tls.key) } : {};
  return new Promise((resolve, reject) => {
    const req = (u.protocol === 'https:' ? https : http).request(
      u,
      {
        method: data === undefined ? 'GET' : 'POST',
        headers: data === undefined ? {} : { 'content-type': 'application/json' },
        timeout: timeoutMs,
        ...tlsOpts,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (x: string) => (text += x));
        res.on('end', () => {
          let json: unknown = null;
          try {
            json = JSON.parse(text);
          } catch {
            /* not JSON */
          }
          resolve({ status: res.statusCode ?? 0, json });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${url}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(data);
  });
}

async function etcdHealthy(lab: Pick<Lab, 'tls'>, url: string): Promise<boolean> {
  try {
    const r = await labRequest(lab, `${url}/health`, undefined, 2000);
    return r.status === 200 && (r.json as { health?: string } | null)?.health === 'true';
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// public API

/**
 * Start a lab. Tears down a lab already up (or crashed) in the same dir first.
 * Defaults: dir <repo>/.runbook/lab, 3 hosts, members = hosts, etcd on (3.4, http), first
 * address 127.0.0.11.
 */
export async function labUp(opts: LabUpOptions = {}): Promise<Lab> {
  const dir = resolveDir(opts.dir);
  const nHosts = opts.hosts ?? 3;
  const nMembers = opts.members ?? nHosts;
  const withEtcd = opts.etcd ?? true;
  const first = opts.firstOctet ?? 11;
  const tls = opts.tls ?? false;
  const scheme = tls ? 'https' : 'http';
  const deployment = opts.deployment ?? 'systemd';
  const kubeletPeriod = opts.kubeletPeriodSec ?? DEFAULT_KUBELET_PERIOD_SEC;
  if (deployment !== 'systemd' && deployment !== 'static-pod') throw new Error(`lab: deployment must be systemd or static-pod, got ${String(deployment)}`);
  if (!(kubeletPeriod > 0)) throw new Error('lab: kubeletPeriodSec must be > 0');
  if (deployment === 'static-pod' && !withEtcd) throw new Error('lab: a static-pod lab always runs etcd from its manifests (drop --no-etcd)');
  const net = labNet();
  if (!Number.isInteger(nHosts) || nHosts < 1) throw new Error('lab: hosts must be >= 1');
  if (!Number.isInteger(nMembers) || nMembers < 0 || nMembers > nHosts) throw new Error('lab: members must be 0..hosts');
  if (!Number.isInteger(first) || first < 2 || first + nHosts - 1 > 254) throw new Error(`lab: addresses must stay within 127.0.${net}.2-127.0.${net}.254`);
  if (typeof process.getuid === 'function' && process.getuid() !== 0) throw new Error('lab: must run as root (namespaces, mounts)');

  // Before anything starts: a version that cannot be had is an error, never another version.
  const build = await resolveEtcd(opts.etcdVersion ?? '3.4');
  await labDown(dir); // idempotent: kills a running lab, cleans a crashed one
  await fs.mkdir(dir, { recursive: true });

  const specs = Array.from({ length: nHosts }, (_, i) => ({
    name: `etcd-${i + 1}`,
    address: `127.0.${net}.${first + i}`,
    member: i < nMembers,
    stateDir: path.join(dir, 'hosts', `etcd-${i + 1}`),
  }));

  // Refuse addresses something else already serves (another lab dir, a real sshd on 0.0.0.0).
  const busy = (
    await Promise.all(specs.flatMap((h) => [22, 2379, 2380, 2381].map(async (p) => ((await tcpOpen(h.address, p, 500)) ? `${h.address}:${p}` : ''))))
  ).filter(Boolean);
  if (busy.length > 0) throw new Error(`lab: address(es) already in use: ${busy.join(', ')} (another lab up in a different dir?)`);

  for (const mp of MOUNT_POINTS) await fs.mkdir(mp, { recursive: true });

  const keyPath = path.join(dir, 'id_ed25519');
  const knownHostsPath = path.join(dir, 'known_hosts');
  const inventoryPath = path.join(dir, 'inventory.yml');
  await fs.mkdir(path.join(dir, 'keys'), { recursive: true });
  await fs.mkdir(path.join(dir, 'backups'), { recursive: true });
  const [clientPub, ...hostPubs] = await Promise.all([
    ensureKey(keyPath, 'runbook-lab'),
    ...specs.map((h) => ensureKey(path.join(dir, 'keys', `${h.name}_host_ed25519_key`), `root@${h.name}`)),
  ]);
  if (clientPub === undefined) throw new Error('lab: key generation failed');

  if (tls) await makePki(dir, specs);
  // static-pod: the etcd image tag names build.version, served by that build's binaries only.
  const pod = deployment === 'static-pod' ? { version: build.version, etcdRoot: build.root ?? '/', tls } : undefined;
  await Promise.all(specs.map((h) => prepareHost(h, specs, clientPub, path.join(dir, 'keys', `${h.name}_host_ed25519_key`), opts.quotaBytes, scheme, pod)));
  if (tls) await Promise.all(specs.map((h) => (pod ? installKubeadmPki(path.join(dir, 'pki'), h) : installPki(dir, h))));
  await fs.writeFile(knownHostsPath, specs.map((h, i) => `${h.address} ${(hostPubs[i] ?? '').split(' ').slice(0, 2).join(' ')}`).join('\n') + '\n');
  await fs.writeFile(inventoryPath, inventoryYaml(dir, specs, build.version, tls, deployment));

  const st: LabState = {
    version: 1,
    status: 'up',
    dir,
    etcd: withEtcd,
    quotaBytes: opts.quotaBytes,
    deployment,
    hosts: [],
    inventoryPath,
    keyPath,
    knownHostsPath,
    clientUrls: withEtcd ? specs.filter((h) => h.member).map((h) => `${scheme}://${h.address}:2379`) : [],
    etcdVersion: build.version,
    etcdSource: build.source,
    scheme,
    tls: tls ? { ca: path.join(dir, 'pki/ca.crt'), cert: path.join(dir, 'pki/etcdctl.crt'), key: path.join(dir, 'pki/etcdctl.key') } : undefined,
  };
  try {
    // Record every PID as soon as it exists, so a failure below can still be cleaned up.
    const spawned = await Promise.allSettled(specs.map((h) => spawnHost(h, build.root)));
    spawned.forEach((r, i) => {
      const h = specs[i];
      if (h && r.status === 'fulfilled') st.hosts.push({ ...h, ...r.value });
    });
    await writeState(st);
    const failed = spawned.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;

    await Promise.all(st.hosts.map((h) => waitHostReady(h)));

    if (deployment === 'static-pod') {
      // Every host runs a kubelet (members start etcd + kube-apiserver from their manifests at its first check).
      const lab = toLab(st);
      await Promise.all(
        st.hosts.map(async (h) => {
          const r = await hostExec(lab, h.name, startKubeletCmd(kubeletPeriod), { timeoutMs: 10_000 });
          if (r.code !== 0) throw new Error(`lab: ${h.name}: cannot start the kubelet stand-in: ${r.stderr.trim()}`);
        }),
      );
      const deadline = Date.now() + 30_000;
      for (const h of st.hosts.filter((x) => x.member)) {
        while (!(await etcdHealthy(st, `${scheme}://${h.address}:2379`))) {
          if (Date.now() > deadline) throw new Error(`lab: etcd pod on ${h.name} is not healthy\n${await tail(path.join(h.stateDir, 'run-lab/kubelet.log'))}`);
          await sleep(50);
        }
      }
    } else if (withEtcd && nMembers > 0) {
      const lab = toLab(st);
      // Members of a new cluster must start in parallel: each start blocks until quorum.
      const results = await Promise.all(
        st.hosts.filter((h) => h.member).map(async (h) => ({ h, r: await hostExec(lab, h.name, 'systemctl start etcd', { timeoutMs: 100_000 }) })),
      );
      const bad = results.filter((x) => x.r.code !== 0);
      if (bad.length > 0) {
        const details = await Promise.all(
          bad.map(async (x) => `${x.h.name}: ${x.r.stderr.trim()}\n${await tail(path.join(x.h.stateDir, 'run-lab/etcd.log'))}`),
        );
        throw new Error(`lab: etcd failed to start\n${details.join('\n')}`);
      }
      const deadline = Date.now() + 15_000;
      for (const h of st.hosts.filter((x) => x.member)) {
        while (!(await etcdHealthy(st, `${scheme}://${h.address}:2379`))) {
          if (Date.now() > deadline) throw new Error(`lab: etcd on ${h.name} is not healthy`);
          await sleep(50);
        }
      }
    }
  } catch (e) {
    await labDown(dir).catch(() => undefined);
    throw e;
  }
  return toLab(st);
}

/** Stop the lab in `dir` (idempotent). Kills only the recorded namespace inits (and their
 * unshare parents), verified by start time; everything inside a host dies with its init. */
export async function labDown(dir?: string): Promise<void> {
  const d = resolveDir(dir);
  const st = readState(d);
  if (st) {
    for (const h of st.hosts) if (isOurs(h.initPid, h.initStart)) process.kill(h.initPid, 'SIGKILL');
    const deadline = Date.now() + 10_000;
    const pending = (): HostState[] => st.hosts.filter((h) => isOurs(h.initPid, h.initStart) || isOurs(h.unsharePid, h.unshareStart));
    while (pending().length > 0 && Date.now() < deadline) {
      await sleep(5);
      // unshare exits as soon as its child (the init) dies; only if it lingers, end it too.
      if (Date.now() > deadline - 8000)
        for (const h of pending()) if (!isOurs(h.initPid, h.initStart) && isOurs(h.unsharePid, h.unshareStart)) process.kill(h.unsharePid, 'SIGKILL');
    }
    const left = pending();
    if (left.length > 0) throw new Error(`lab: processes still alive after SIGKILL: ${left.map((h) => h.initPid).join(', ')}`);
    // Keep the small logs for post-mortems; drop the host trees (etcd data, WAL preallocations).
    for (const h of st.hosts) {
      const logDir = path.join(d, 'logs', h.name);
      await fs.rm(logDir, { recursive: true, force: true });
      await fs.mkdir(logDir, { recursive: true });
      const runLab = path.join(h.stateDir, 'run-lab');
      const names = await fs.readdir(runLab).catch(() => [] as string[]);
      for (const n of names.filter((x) => x.endsWith('.log'))) await fs.copyFile(path.join(runLab, n), path.join(logDir, n)).catch(() => undefined);
      await fs.copyFile(path.join(h.stateDir, 'init.log'), path.join(logDir, 'init.log')).catch(() => undefined);
    }
  }
  await fs.rm(path.join(d, 'hosts'), { recursive: true, force: true });
  if (st && st.status !== 'down') {
    st.status = 'down';
    st.hosts = st.hosts.map((h) => ({ ...h, initPid: 0, initStart: '', unsharePid: 0, unshareStart: '' }));
    await writeState(st);
  }
}

/** Per-host liveness: sshd (init alive and port 22 accepting) and etcd (`systemctl is-active etcd`). */
export async function labStatus(dir?: string): Promise<{ host: string; address: string; sshd: boolean; etcd: boolean }[]> {
  const d = resolveDir(dir);
  const st = readState(d);
  if (!st) return [];
  const lab = toLab(st);
  return Promise.all(
    st.hosts.map(async (h) => {
      const alive = isOurs(h.initPid, h.initStart);
      const sshd = alive && (await tcpOpen(h.address, 22, 1000));
      const probe = st.deployment === 'static-pod' ? 'test -n "$(crictl ps -q --name \'^etcd$\')"' : 'systemctl is-active --quiet etcd';
      const etcd = alive && (await hostExec(lab, h.name, probe, { timeoutMs: 10_000 }).catch(() => ({ code: 1 }))).code === 0;
      return { host: h.name, address: h.address, sshd, etcd };
    }),
  );
}

/**
 * Run `bash -c cmd` inside a host's namespaces (via nsenter, not ssh), as root, with a clean
 * environment. For test assertions and fault injection. `host` is a name or an address.
 * On timeout the command's process group is killed and code is 124/137 (or null).
 */
export async function hostExec(lab: Lab, host: string, cmd: string, opts: { timeoutMs?: number } = {}): Promise<ExecResult> {
  const h = lab.hosts.find((x) => x.name === host || x.address === host);
  if (!h) throw new Error(`lab: no host ${host}`);
  if (!(h.initPid > 1) || procStart(h.initPid) === null) throw new Error(`lab: host ${h.name} is not running`);
  const timeoutMs = opts.timeoutMs ?? HOST_EXEC_DEFAULT_TIMEOUT_MS;
  const secs = Math.max(1, Math.ceil(timeoutMs / 1000));
  const args = [`--target=${h.initPid}`, '--mount', '--uts', '--pid', '--', '/usr/bin/timeout', '-k', '2', `${secs}s`, '/bin/bash', '-c', cmd];
  return run('/usr/bin/nsenter', args, { timeoutMs: timeoutMs + 5000 });
}

/** ssh argv (without the command) that logs into `host` as root with the lab key and strict host-key checking. */
export function sshArgs(lab: Lab, host: string): string[] {
  const h = lab.hosts.find((x) => x.name === host || x.address === host);
  if (!h) throw new Error(`lab: no host ${host}`);
  return [
    '-i',
    lab.keyPath,
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    `UserKnownHostsFile=${lab.knownHostsPath}`,
    '-o',
    'GlobalKnownHostsFile=/dev/null',
    '-o',
    'BatchMode=yes',
    '-o',
    'ConnectTimeout=5',
    `root@${h.address}`,
  ];
}
