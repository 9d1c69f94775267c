// Shared helpers of the playbook e2e tests (test/e2e/playbook-*.test.ts): each file starts its own
// lab (real sshd + etcd 3.4 per host), breaks it with hostExec (nsenter, never through runbook),
// runs a shipped playbook through `main([... 'apply' ...])` exactly as an operator would, and
// checks the outcome from outside: etcd's own JSON gateway on every member, and the hosts' files.
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../engine/cli/main.js';
import type { Io } from '../../engine/model/io.js';
import { hostExec, labUp, type Lab, type LabUpOptions } from '../lab/lab.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export function labDir(name: string): string {
  return path.join(REPO, '.runbook', `lab-${name}`);
}

/** labUp in .runbook/lab-NAME without what earlier runs left on the controller side (backups, journals). */
export async function freshLab(name: string, opts: Omit<LabUpOptions, 'dir'>): Promise<Lab> {
  const dir = labDir(name);
  for (const sub of ['backups', 'runs']) rmSync(path.join(dir, sub), { recursive: true, force: true });
  const t0 = Date.now();
  const lab = await labUp({ ...opts, dir });
  console.log(`      labUp(${opts.hosts ?? 3} hosts): ${Date.now() - t0} ms`);
  return lab;
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
  let out = '';
  let err = '';
  const io: Io = { out: (s) => void (out += s), err: (s) => void (err += s), isTTY: false };
  const t0 = Date.now();
  const code = await main(['node', 'runbook', ...args], io);
  return { code, out, err, all: `${out}\n${err}`, ms: Date.now() - t0 };
}

/** `runbook apply PLAYBOOK -i INV --yes --output text -v -e k=v...` with the journal in the lab dir. */
export async function apply(lab: Lab, playbook: string, extra: string[] = [], inventory = lab.inventoryPath): Promise<CliRun> {
  const e = extra.flatMap((x) => ['-e', x]);
  const r = await runbook(['apply', playbook, '-i', inventory, '--yes', '--output', 'text', '-v', '--journal-dir', path.join(lab.dir, 'runs'), ...e]);
  console.log(`      runbook apply ${playbook} ${extra.join(' ')}: exit ${r.code} in ${(r.ms / 1000).toFixed(1)} s`);
  if (process.env.RUNBOOK_E2E_SHOW === '1') console.log(r.all);
  return r;
}

export interface JournalEvent {
  type: string;
  stepId?: string;
  host?: string;
  target?: string;
  result?: { status: string; value: unknown; message?: string };
}

/** The journal lines (JSON events) of the run an apply printed. */
export function journal(lab: Lab, run: CliRun): JournalEvent[] {
  const id = /run id: (\S+)/.exec(run.all)?.[1];
  assert.ok(id, 'no run id in the output');
  return readFileSync(path.join(lab.dir, 'runs', `${id}.jsonl`), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as JournalEvent);
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
  return `http://${h.address}:2379`;
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
  const r = await fetch(`${endpoint}/v3/${api}`, { method: 'POST', body: JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs) });
  const j = (await r.json()) as T & { error?: string; message?: string };
  if (!r.ok || j.error !== undefined) throw new Error(`${endpoint} ${api}: ${j.error ?? j.message ?? r.status}`);
  return j;
}

export async function put(endpoint: string, key: string, value: string): Promise<number> {
  const r = await rpc<{ header: { revision: string } }>(endpoint, 'kv/put', { key: b64(key), value: b64(value) });
  return Number(r.header.revision);
}

/** Keys and values under a prefix, read from this member only (serializable: its own data). */
export async function readPrefix(endpoint: string, prefix: string): Promise<Map<string, string>> {
  const r = await rpc<{ kvs?: { key: string; value?: string }[] }>(endpoint, 'kv/range', { key: b64(prefix), range_end: prefixEnd(prefix), serializable: true });
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
  const s = await rpc<{ header: { cluster_id: string; member_id: string; revision: string }; dbSize: string; leader: string; isLearner?: boolean; errors?: string[] }>(endpoint, 'maintenance/status', {});
  return { endpoint, clusterId: s.header.cluster_id, memberId: s.header.member_id, revision: Number(s.header.revision), dbSize: Number(s.dbSize), leader: s.leader, isLearner: s.isLearner === true, errors: s.errors ?? [] };
}

export interface MemberEntry {
  id: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

export async function memberList(endpoint: string): Promise<MemberEntry[]> {
  const r = await rpc<{ members?: { ID: string; name?: string; peerURLs?: string[]; clientURLs?: string[]; isLearner?: boolean }[] }>(endpoint, 'cluster/member/list', {});
  return (r.members ?? [])
    .map((m) => ({ id: m.ID, name: m.name ?? '', peerURLs: m.peerURLs ?? [], clientURLs: m.clientURLs ?? [], isLearner: m.isLearner === true }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

export async function healthy(endpoint: string): Promise<boolean> {
  try {
    const r = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(3000) });
    return ((await r.json()) as { health?: string }).health === 'true';
  } catch {
    return false;
  }
}

/**
 * The cluster as the inventory says it must be: every member healthy, each one's member list
 * exactly these hosts (names, peer and client URLs, no learners), one cluster ID, one leader.
 * Returns the cluster ID and each member's status.
 */
export async function assertCluster(lab: Lab, hosts: string[]): Promise<{ clusterId: string; statuses: MemberStatus[] }> {
  const want = hosts
    .map((h) => ({ name: h, peer: `http://${address(lab, h)}:2380`, client: clientUrl(lab, h) }))
    .sort((a, b) => a.name.localeCompare(b.name));
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
    assert.deepEqual(list.filter((m) => m.isLearner).map((m) => m.name), [], `learners seen by ${h}`);
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
