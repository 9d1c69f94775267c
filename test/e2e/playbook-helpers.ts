// Shared helpers of the playbook e2e tests (test/e2e/playbook-*.test.ts): each file starts its own
// lab per shape (test/lab/shapes.ts: real sshd + etcd 3.4 or 3.5, http or TLS, per host), breaks
// it with hostExec (nsenter, never through runbook),
// runs a shipped playbook through `main([... 'apply' ...])` exactly as an operator would, and
// checks the outcome from outside: etcd's own JSON gateway on every member, and the hosts' files.
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../engine/cli/main.js';
import { loadInventory } from '../../engine/inventory/load.js';
import type { Inventory, SshSettings } from '../../engine/model/types.js';
import { captureIo } from '../support/io.js';
import { readRunJournal, runIdOf, type JournalEvent } from '../support/journal.js';
import { hostExec, labDown, labRequest, labUp, operatorSettings, type Lab, type LabTls, type LabUpOptions } from '../lab/lab.js';
import { SHAPE_C, shapeLab, type Shape } from '../lab/shapes.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export function labDir(name: string): string {
  return path.join(REPO, '.runbook', `lab-${name}`);
}

/** TLS files per client-URL origin of the labs up in this process, so rpc() can reach a TLS member by URL alone. */
const tlsByOrigin = new Map<string, LabTls>();

/**
 * labUp in .runbook/lab-NAME (lab-NAME-SHAPE with a shape) without what earlier runs left on the
 * controller side (backups, journals). Without a shape: today's 3.4 + http. Checks every member
 * runs the shape's etcd version.
 */
export async function freshLab(name: string, opts: Omit<LabUpOptions, 'dir' | 'etcdVersion' | 'tls'> & { shape?: Shape }): Promise<Lab> {
  const { shape = SHAPE_C, ...rest } = opts;
  const dir = labDir(opts.shape ? `${name}-${shape.id}` : name);
  for (const sub of ['backups', 'runs']) rmSync(path.join(dir, sub), { recursive: true, force: true });
  const t0 = Date.now();
  const lab = await labUp({ ...rest, ...shapeLab(shape), dir });
  console.log(`      labUp(${opts.hosts ?? 3} hosts, etcd ${lab.etcdVersion}, ${lab.scheme}): ${Date.now() - t0} ms`);
  // Every host, spares too: a spare that joins later serves TLS with the same CA.
  for (const h of lab.hosts) if (lab.tls) tlsByOrigin.set(`https://${h.address}:2379`, lab.tls);
  // Never another version than the shape's: what `etcd --version` says on each member.
  for (const h of lab.hosts.filter((x) => x.member)) {
    const v = /^etcd Version: (\S+)/m.exec(await onHost(lab, h.name, 'etcd --version'))?.[1] ?? '';
    assert.ok(v.startsWith(`${shape.etcdVersion}.`), `${h.name} runs etcd ${v}, the shape wants ${shape.etcdVersion}`);
  }
  return lab;
}

function mustLoad(file: string): Inventory {
  const r = loadInventory(file);
  assert.ok(r.inventory, `${file}: ${r.diagnostics.map((d) => d.message).join('; ')}`);
  return r.inventory;
}

/**
 * "What ships is what ran": the lab inventory's cluster settings as the engine resolves them
 * (defaults applied, derived facts included) equal the shipped inventory's, except what names a
 * particular cluster or machine: the cluster name and token, the controller-side backup
 * and metrics dirs, identity/known_hosts paths, host names and addresses, and the etcd patch release (the lab runs
 * Debian's newest of the same minor). Returns the keys compared, for the test's message.
 */
export function assertSameClusterSettings(labInventory: string, shipped: string): string[] {
  const a = mustLoad(labInventory);
  const b = mustLoad(path.join(REPO, shipped));
  const minor = (v: string): string => v.split('.').slice(0, 2).join('.');
  const settings = (inv: Inventory): Record<string, unknown> => {
    const { name: _n, token: _t, controllerBackupDir: _c, backupMetricsDir: _m, etcdVersion, ...rest } = inv.cluster;
    const f = inv.facts;
    return {
      ...rest,
      etcdMinor: minor(etcdVersion),
      // What the engine derives from the version and TLS settings: tools, flags, capabilities.
      etcdctl: f.etcdctl,
      snapshotTool: f.snapshotTool,
      tlsFlags: f.tlsFlags,
      supportsLearner: f.supportsLearner,
      supportsBumpRevision: f.supportsBumpRevision,
      memberScheme: [...new Set(f.members.map((m) => `${new URL(m.clientUrl).protocol} ${new URL(m.peerUrl).protocol}`))],
      // per-host SSH settings: all hosts alike in both, so the first etcd member's stands for all (the values; not
      // which of them an ssh config may still fill, `defaulted`)
      ssh: (({ identityFile: _i, knownHosts: _k, defaulted: _d, ...s }) => s)(inv.hosts[inv.groups.etcd?.[0] ?? '']?.ssh ?? ({} as SshSettings)),
    };
  };
  const got = settings(a);
  assert.deepEqual(got, settings(b), `${labInventory} vs ${shipped}`);
  return Object.keys(got);
}

/** rpc() and healthy() reach a TLS member at another client URL too (update-member moves one). */
export function trustEndpoint(lab: Lab, url: string): void {
  if (lab.tls) tlsByOrigin.set(new URL(url).origin, lab.tls);
}

/** The tool a shape's etcd restores and reads snapshot files with (etcdutl from 3.5 on). */
export function snapshotTool(shape: Shape): string {
  return shape.etcdVersion === '3.4' ? 'etcdctl' : 'etcdutl';
}

/** The operator settings (quota, tuning, metrics, compaction, logging) in a member's etcd.conf, in file order. */
export async function operatorLines(lab: Lab, host: string): Promise<string[]> {
  const keys = new Set(operatorSettings(address(lab, host)).map((l) => l.slice(0, l.indexOf('='))));
  const conf = await onHost(lab, host, 'cat /etc/etcd/etcd.conf');
  return conf.split('\n').filter((l) => keys.has(l.slice(0, l.indexOf('='))));
}

/** Every operator setting the lab wrote is in the member's etcd.conf, once, unchanged. */
export async function assertOperatorSettings(lab: Lab, host: string, quotaBytes?: number): Promise<void> {
  assert.deepEqual(await operatorLines(lab, host), operatorSettings(address(lab, host), quotaBytes), `${host}: operator settings in /etc/etcd/etcd.conf`);
}

export interface CliRun {
  code: number;
  out: string;
  err: string;
  /** stdout + stderr, for messages. */
  all: string;
  ms: number;
}

/** `runbook ARGS...` in-process, output captured. */
export async function runbook(args: string[]): Promise<CliRun> {
  const io = captureIo();
  const t0 = Date.now();
  const code = await main(['node', 'runbook', ...args], io);
  return { code, out: io.stdout(), err: io.stderr(), all: `${io.stdout()}\n${io.stderr()}`, ms: Date.now() - t0 };
}

/** `runbook apply PLAYBOOK -i INV --yes --output text -v -e k=v...` with the journal in the lab dir. */
export async function apply(lab: Lab, playbook: string, extra: string[] = [], inventory = lab.inventoryPath): Promise<CliRun> {
  const e = extra.flatMap((x) => ['-e', x]);
  const r = await runbook(['apply', playbook, '-i', inventory, '--yes', '--output', 'text', '-v', '--journal-dir', path.join(lab.dir, 'runs'), ...e]);
  console.log(`      runbook apply ${playbook} ${extra.join(' ')}: exit ${r.code} in ${(r.ms / 1000).toFixed(1)} s`);
  if (process.env.RUNBOOK_E2E_SHOW === '1') console.log(r.all);
  return r;
}

/** The journal records (plan, then events) of the run an apply printed. */
export function journal(lab: Lab, run: CliRun): JournalEvent[] {
  return readRunJournal(path.join(lab.dir, 'runs'), runIdOf(run));
}

/** An inventory next to the lab's (relative key paths keep working), edited from its text. */
export function writeInventory(lab: Lab, name: string, edit: (text: string) => string): string {
  const file = path.join(lab.dir, name);
  writeFileSync(file, edit(readFileSync(lab.inventoryPath, 'utf8')));
  return file;
}

export function clientUrl(lab: Lab, host: string): string {
  const h = lab.hosts.find((x) => x.name === host);
  assert.ok(h, `no lab host ${host}`);
  return `${lab.scheme}://${h.address}:2379`;
}

export function peerUrl(lab: Lab, host: string): string {
  return `${lab.scheme}://${address(lab, host)}:2380`;
}

export function address(lab: Lab, host: string): string {
  const h = lab.hosts.find((x) => x.name === host);
  assert.ok(h, `no lab host ${host}`);
  return h.address;
}

/** Run a command inside a lab host (setup of disasters, verification). Must succeed. */
export async function onHost(lab: Lab, host: string, cmd: string, timeoutMs = 60_000): Promise<string> {
  const r = await hostExec(lab, host, cmd, { timeoutMs });
  assert.equal(r.code, 0, `${host}: ${cmd}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

// ───────────── etcd's JSON gateway (the v3 API over HTTP), for setup and checks ─────────────

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string | undefined): string => Buffer.from(s ?? '', 'base64').toString('utf8');

/** The key after every key with this prefix (etcd's range_end for a prefix). */
function prefixEnd(prefix: string): string {
  const buf = Buffer.from(prefix, 'utf8');
  for (let i = buf.length - 1; i >= 0; i--) {
    const byte = buf[i] ?? 0;
    if (byte < 0xff) {
      const end = Buffer.from(buf.subarray(0, i + 1));
      end[i] = byte + 1;
      return end.toString('base64');
    }
  }
  return b64('\0');
}

export async function rpc<T>(endpoint: string, api: string, body: unknown, timeoutMs = 5000): Promise<T> {
  const r = await labRequest({ tls: tlsByOrigin.get(new URL(endpoint).origin) }, `${endpoint}/v3/${api}`, body, timeoutMs);
  const j = (r.json ?? {}) as T & { error?: string; message?: string };
  if (r.status !== 200 || j.error !== undefined) throw new Error(`${endpoint} ${api}: ${j.error ?? j.message ?? r.status}`);
  return j;
}

export async function put(endpoint: string, key: string, value: string): Promise<number> {
  const r = await rpc<{ header: { revision: string } }>(endpoint, 'kv/put', { key: b64(key), value: b64(value) });
  return Number(r.header.revision);
}

/** Keys and values under a prefix, read from this member only (serializable: its own data). */
export async function readPrefix(endpoint: string, prefix: string): Promise<Map<string, string>> {
  const r = await rpc<{ kvs?: { key: string; value?: string }[] }>(endpoint, 'kv/range', {
    key: b64(prefix),
    range_end: prefixEnd(prefix),
    serializable: true,
  });
  return new Map((r.kvs ?? []).map((kv) => [unb64(kv.key), unb64(kv.value)]));
}

/** Every live key on this member (serializable). */
export async function keyCount(endpoint: string): Promise<number> {
  const r = await rpc<{ count?: string }>(endpoint, 'kv/range', { key: b64('\0'), range_end: b64('\0'), count_only: true, serializable: true });
  return Number(r.count ?? 0);
}

export const CANARIES = 100;

/** /canary/1..n = value-1..n, written through the first endpoint, in parallel batches. */
export async function writeCanaries(endpoint: string, n = CANARIES, prefix = '/canary/'): Promise<void> {
  for (let i = 1; i <= n; i += 25) {
    await Promise.all(Array.from({ length: Math.min(25, n - i + 1) }, (_, j) => put(endpoint, `${prefix}${i + j}`, `value-${i + j}`)));
  }
}

export async function assertCanaries(endpoint: string, n = CANARIES, prefix = '/canary/'): Promise<void> {
  // A serializable read on a follower may trail the leader by a moment.
  let kv = await readPrefix(endpoint, prefix);
  for (let i = 0; i < 20 && kv.size !== n; i++) {
    await new Promise((r) => setTimeout(r, 100));
    kv = await readPrefix(endpoint, prefix);
  }
  assert.equal(kv.size, n, `${endpoint}: ${kv.size} canary keys under ${prefix}, expected ${n}`);
  for (let i = 1; i <= n; i++) assert.equal(kv.get(`${prefix}${i}`), `value-${i}`, `${endpoint}: ${prefix}${i}`);
}

export interface MemberStatus {
  endpoint: string;
  clusterId: string;
  memberId: string;
  revision: number;
  dbSize: number;
  leader: string;
  isLearner: boolean;
  errors: string[];
}

export async function status(endpoint: string): Promise<MemberStatus> {
  const s = await rpc<{
    header: { cluster_id: string; member_id: string; revision: string };
    dbSize: string;
    leader: string;
    isLearner?: boolean;
    errors?: string[];
  }>(endpoint, 'maintenance/status', {});
  return {
    endpoint,
    clusterId: s.header.cluster_id,
    memberId: s.header.member_id,
    revision: Number(s.header.revision),
    dbSize: Number(s.dbSize),
    leader: s.leader,
    isLearner: s.isLearner === true,
    errors: s.errors ?? [],
  };
}

export interface MemberEntry {
  id: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

export async function memberList(endpoint: string): Promise<MemberEntry[]> {
  const r = await rpc<{ members?: { ID: string; name?: string; peerURLs?: string[]; clientURLs?: string[]; isLearner?: boolean }[] }>(
    endpoint,
    'cluster/member/list',
    {},
  );
  return (r.members ?? [])
    .map((m) => ({ id: m.ID, name: m.name ?? '', peerURLs: m.peerURLs ?? [], clientURLs: m.clientURLs ?? [], isLearner: m.isLearner === true }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

export async function healthy(endpoint: string): Promise<boolean> {
  try {
    const r = await labRequest({ tls: tlsByOrigin.get(new URL(endpoint).origin) }, `${endpoint}/health`, undefined, 3000);
    return (r.json as { health?: string } | null)?.health === 'true';
  } catch {
    return false;
  }
}

/** `host`'s member has the canaries and `keys` keys in all. */
export async function assertData(lab: Lab, host: string, keys: number): Promise<void> {
  await assertCanaries(clientUrl(lab, host));
  assert.equal(await keyCount(clientUrl(lab, host)), keys, host);
}

/**
 * The cluster as the inventory says it must be: every member healthy, each one's member list
 * exactly these hosts (names, peer and client URLs, no learners), one cluster ID, one leader.
 * Returns the cluster ID and each member's status.
 */
export async function assertCluster(lab: Lab, hosts: string[]): Promise<{ clusterId: string; statuses: MemberStatus[] }> {
  const want = hosts.map((h) => ({ name: h, peer: peerUrl(lab, h), client: clientUrl(lab, h) })).sort((a, b) => a.name.localeCompare(b.name));
  const statuses: MemberStatus[] = [];
  for (const h of hosts) {
    const ep = clientUrl(lab, h);
    assert.equal(await healthy(ep), true, `${h} is not healthy`);
    const list = await memberList(ep);
    assert.deepEqual(
      list.map((m) => ({ name: m.name, peer: m.peerURLs.join(','), client: m.clientURLs.join(',') })),
      want,
      `member list seen by ${h}`,
    );
    assert.deepEqual(
      list.filter((m) => m.isLearner).map((m) => m.name),
      [],
      `learners seen by ${h}`,
    );
    statuses.push(await status(ep));
  }
  const ids = [...new Set(statuses.map((s) => s.clusterId))];
  assert.equal(ids.length, 1, `cluster IDs differ: ${ids.join(', ')}`);
  assert.equal(new Set(statuses.map((s) => s.leader)).size, 1, 'members disagree on the leader');
  return { clusterId: ids[0] ?? '', statuses };
}

/**
 * What a refused run must not have touched on a host: etcd's main PID (not restarted), the data
 * dir (same inode, nothing moved aside) and etcd.conf.
 */
export async function fingerprint(lab: Lab, host: string): Promise<string> {
  return onHost(
    lab,
    host,
    '{ systemctl is-active etcd; systemctl show -p MainPID --value etcd; stat -c "%i %U" /var/lib/etcd /var/lib/etcd/member; ls -d /var/lib/etcd*; sha256sum /etc/etcd/etcd.conf; } 2>&1; true',
  );
}

export async function fingerprints(lab: Lab, hosts: string[]): Promise<Record<string, string>> {
  return Object.fromEntries(await Promise.all(hosts.map(async (h) => [h, await fingerprint(lab, h)] as const)));
}

/** The data dirs a run moved aside on a host (`/var/lib/etcd.bak-<timestamp>`). */
export async function asideDirs(lab: Lab, host: string): Promise<string[]> {
  const out = await onHost(lab, host, 'ls -d /var/lib/etcd.bak-* 2>/dev/null || true');
  return out.split('\n').filter(Boolean);
}

// ───────────── checks shared by the systemd and static-pod playbook suites ─────────────

/** The bump restore-all uses on a shape: the lab inventory's bump_revision where the etcd version has it (3.5.10+). */
export function bumpOf(shape: Shape): number {
  return shape.etcdVersion === '3.4' ? 0 : 1_000_000_000;
}

const CHURN_VALUE = 'x'.repeat(64 * 1024);

/** Overwrite /churn/0..19 with 64 KiB values `rounds` times (every overwrite keeps the old revision until compaction). */
export async function churn(ep: string, rounds: number): Promise<void> {
  for (let r = 0; r < rounds; r++) await Promise.all(Array.from({ length: 20 }, (_, i) => put(ep, `/churn/${i}`, `${r}:${CHURN_VALUE}`)));
}

/** The member's active alarms (NOSPACE, CORRUPT). */
export async function alarms(ep: string): Promise<string[]> {
  const r = await rpc<{ alarms?: { alarm?: string }[] }>(ep, 'maintenance/alarm', { action: 'GET' });
  return (r.alarms ?? []).map((a) => a.alarm ?? '');
}

/** Churn until etcd refuses a write with "database space exceeded" (the quota is full: NOSPACE raised). */
export async function fillUntilNospace(ep: string): Promise<void> {
  let refused: unknown;
  for (let round = 0; round < 40 && refused === undefined; round++) {
    try {
      await churn(ep, 1);
    } catch (e) {
      refused = e;
    }
  }
  assert.match(String(refused), /database space exceeded/);
}

/**
 * After a restore with --bump-revision --mark-compacted: a watch from a revision the snapshot had
 * (what a kube-apiserver's watch cache resumes from) is cancelled as "compacted", so the client
 * relists instead of missing events; a read at that revision is refused; new writes land past the bump.
 */
export async function assertOldRevisionsCompacted(lab: Lab, shape: Shape, revision: number, tlsFlags: string): Promise<void> {
  const ep = clientUrl(lab, 'etcd-1');
  const watch = `timeout 20 etcdctl ${shape.tls ? tlsFlags : ''} --endpoints=${ep} watch --rev=${revision} /canary/1`;
  const w = await hostExec(lab, 'etcd-1', watch, { timeoutMs: 30_000 });
  assert.match(`${w.stdout}\n${w.stderr}`, /required revision has been compacted/, `watch exit ${String(w.code)}`);
  assert.notEqual(w.code, 124, 'the watch was not cancelled (timed out instead)');
  await assert.rejects(rpc(ep, 'kv/range', { key: Buffer.from('/canary/1').toString('base64'), revision }), /compacted/);
  const rev = await put(ep, '/after-restore', 'x');
  assert.ok(rev > revision + bumpOf(shape), `put at revision ${rev}`);
}

/** `runbook status --format json` as the restore suites read it. */
export interface StatusReport {
  healthy: boolean;
  cluster_ids: string[];
  members: { name: string; id: string; leader: boolean; revision: number; raft_index: number; db_size: number; health: string }[];
}

/** `runbook status`: one row per member of the live member list (ID in hex), all healthy, one leader, one cluster ID. */
export async function assertStatusReport(lab: Lab): Promise<StatusReport> {
  const r = await runbook(['status', '-i', lab.inventoryPath, '--format', 'json']);
  assert.equal(r.code, 0, r.all);
  const s = JSON.parse(r.out) as StatusReport;
  const list = await memberList(clientUrl(lab, 'etcd-1'));
  assert.deepEqual(
    s.members.map((m) => [m.name, m.id, m.health]),
    list.map((m) => [m.name, BigInt(m.id).toString(16), 'healthy']),
  );
  assert.equal(s.members.filter((m) => m.leader).length, 1);
  assert.equal(s.cluster_ids.length, 1);
  return s;
}

/** A refused run (exit 1, `refusal` in its output) that left every host and the member list as they were. */
export async function assertRefusedUntouched(
  lab: Lab,
  run: CliRun,
  refusal: RegExp,
  before: { fingerprints: Record<string, string>; members: string[] },
): Promise<void> {
  assert.equal(run.code, 1, run.all);
  assert.match(run.all, refusal);
  assert.deepEqual(await fingerprints(lab, Object.keys(before.fingerprints)), before.fingerprints, 'a host changed');
  assert.deepEqual(
    (await memberList(clientUrl(lab, 'etcd-1'))).map((m) => m.name),
    before.members,
  );
}

/** The plan printed `count` snapshot restores with the shape's tool, bumping the revision (and marking it compacted) when the shape does. */
export function assertRestoreCommands(out: string, shape: Shape, count: number): void {
  const bump = bumpOf(shape);
  const restores = out.match(/\$ \S+ snapshot restore .*/g) ?? [];
  assert.equal(restores.length, count, out);
  for (const line of restores) {
    assert.ok(line.startsWith(`$ ${snapshotTool(shape)} snapshot restore `), line);
    if (bump > 0) assert.match(line, new RegExp(`--bump-revision=${bump} --mark-compacted( |$)`));
    else assert.doesNotMatch(line, /--bump-revision|--mark-compacted/);
  }
}

/** A fresh lab with the canaries written, as the playbook suites start: the cluster ID and key count before anything runs. */
export interface SeededLab {
  lab: Lab;
  keysBefore: number;
  clusterIdBefore: string;
}

/**
 * Registers the calling describe's before (freshLab + canaries on etcd-1) and after (labDown) hooks.
 * Returns the seeded lab, whose fields are set once the before hook has run (in the tests); `ready`,
 * when given, receives it then too.
 */
export function seededLab(name: string, opts: Parameters<typeof freshLab>[1], members: string[], ready?: (s: SeededLab) => void): SeededLab {
  const seeded = {} as SeededLab;
  before(async function () {
    const lab = await freshLab(name, opts);
    await writeCanaries(clientUrl(lab, 'etcd-1'));
    const keysBefore = await keyCount(clientUrl(lab, 'etcd-1'));
    Object.assign(seeded, { lab, keysBefore, clusterIdBefore: (await assertCluster(lab, members)).clusterId });
    ready?.(seeded);
  });
  after(async function () {
    await labDown(labDir(opts.shape ? `${name}-${opts.shape.id}` : name));
  });
  return seeded;
}
