// Pure functions that turn one action's parsed output into values later actions use
// (a member ID looked up by name, a snapshot manifest). Steps name them in the plan
// (`derive mid = member_id(members, "etcd-3")`), and the executor calls them from this fixed table.
import { jsonText as t, type Json, type JsonObject } from '../model/types.js';

export class DeriveError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeriveError';
  }
}

/** etcd prints uint64 IDs as JSON numbers beyond 2^53: keep every long integer as a string. */
export function parseEtcdJson(text: string): Json {
  const safe = text.replace(/([:[,]\s*)(-?\d{16,})(?=\s*[,}\]])/g, '$1"$2"');
  return JSON.parse(safe) as Json;
}

export function toHexId(id: Json | undefined): string {
  if (typeof id === 'string' && /^\d+$/.test(id)) return BigInt(id).toString(16);
  if (typeof id === 'number') return BigInt(id).toString(16);
  if (typeof id === 'string' && /^[0-9a-f]+$/i.test(id)) return id.toLowerCase();
  throw new DeriveError(`not a member ID: ${JSON.stringify(id)}`);
}

interface RawMember {
  ID?: Json;
  name?: string;
  peerURLs?: string[];
  clientURLs?: string[];
  isLearner?: boolean;
}

export interface Member {
  id: string;
  name: string;
  peerUrls: string[];
  clientUrls: string[];
  isLearner: boolean;
}

export function members(list: Json): Member[] {
  const raw = (list as { members?: RawMember[] } | null)?.members ?? [];
  return raw
    .map((m) => ({ id: toHexId(m.ID), name: m.name ?? '', peerUrls: m.peerURLs ?? [], clientUrls: m.clientURLs ?? [], isLearner: m.isLearner === true }))
    .sort((a, b) => a.id.localeCompare(b.id));
}

/** The hex ID of the member with exactly this name (names, never IP prefixes: see kubespray's grep bug). */
export function memberId(list: Json, name: string): string {
  const found = members(list).filter((m) => m.name === name);
  if (found.length === 0) throw new DeriveError(`no member named "${name}" in the member list`);
  if (found.length > 1) throw new DeriveError(`${found.length} members are named "${name}"`);
  return found[0]!.id;
}

/** Like memberId, but looks a member up by its peer URL (a started-but-unnamed member has no name yet). */
export function memberIdByPeer(list: Json, peerUrl: string): string {
  const found = members(list).filter((m) => m.peerUrls.includes(peerUrl));
  if (found.length !== 1) throw new DeriveError(`expected one member with peer URL ${peerUrl}, found ${found.length}`);
  return found[0]!.id;
}

/** ETCD_INITIAL_CLUSTER as printed by `member add`: existing members plus the new one. */
export function initialClusterAfterAdd(list: Json, name: string, peerUrl: string): string {
  const parts = members(list)
    .filter((m) => m.peerUrls.length > 0)
    .map((m) => `${m.name || name}=${m.peerUrls[0] ?? ''}`);
  if (!parts.some((p) => p === `${name}=${peerUrl}`)) parts.push(`${name}=${peerUrl}`);
  return parts.join(',');
}

export interface SnapshotStatus {
  hash: number;
  revision: number;
  totalKey: number;
  totalSize: number;
}

export function snapshotManifest(status: Json, file: Json, path: string, member: string, version: string, count: Json = null): JsonObject {
  const s = status as unknown as SnapshotStatus;
  const f = file as { sha256?: string; size?: number };
  const live = (count as { count?: number } | null)?.count;
  if (typeof f.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(f.sha256)) throw new DeriveError('snapshot sha256 missing');
  return {
    format: 'runbook-snapshot-manifest/1',
    file: path.split('/').pop() ?? path,
    path,
    sha256: f.sha256,
    size: f.size ?? 0,
    revision: s.revision,
    total_keys: s.totalKey,
    // Live keys at the snapshot's revision (total_keys also counts old revisions of keys).
    live_keys: typeof live === 'number' ? live : null,
    hash: s.hash,
    source_member: member,
    etcd_version: version,
  };
}

/** Each host's `snapshot status` of its on-disk db → the host with the highest revision. */
export function highestRevision(statuses: Record<string, Json>): { host: string; revision: number } {
  let best: { host: string; revision: number } | undefined;
  for (const host of Object.keys(statuses).sort()) {
    const rev = (statuses[host] as { revision?: number } | null)?.revision;
    if (typeof rev === 'number' && (!best || rev > best.revision)) best = { host, revision: rev };
  }
  if (!best) throw new DeriveError('no host has a readable member/snap/db');
  return best;
}

/** endpoint status -w json → per-member facts (leader, revision, raft index, DB size). */
export function endpointStatus(list: Json): JsonObject[] {
  const arr = Array.isArray(list) ? list : [];
  return arr.map((e) => {
    const x = e as { Endpoint?: string; Status?: { header?: { member_id?: Json; revision?: number; cluster_id?: Json }; leader?: Json; raftIndex?: number; raftTerm?: number; dbSize?: number; dbSizeInUse?: number; errors?: string[]; isLearner?: boolean } };
    const st = x.Status ?? {};
    const id = toHexId(st.header?.member_id ?? '0');
    return {
      endpoint: x.Endpoint ?? '',
      id,
      cluster_id: toHexId(st.header?.cluster_id ?? '0'),
      leader: toHexId(st.leader ?? '0') === id,
      revision: st.header?.revision ?? 0,
      raft_index: st.raftIndex ?? 0,
      raft_term: st.raftTerm ?? 0,
      db_size: st.dbSize ?? 0,
      db_size_in_use: st.dbSizeInUse ?? 0,
      is_learner: st.isLearner === true,
      errors: st.errors ?? [],
    };
  });
}

interface HealthEntry {
  endpoint?: string;
  health?: boolean;
  error?: string;
}

function healthList(h: Json): HealthEntry[] {
  return Array.isArray(h) ? (h as unknown as HealthEntry[]) : [];
}

export function requireHealthy(h: Json): JsonObject {
  const list = healthList(h);
  const bad = list.filter((e) => e.health !== true);
  if (list.length === 0) throw new DeriveError('no endpoint answered the health check');
  if (bad.length) throw new DeriveError(`unhealthy: ${bad.map((e) => `${e.endpoint ?? '?'} (${e.error ?? 'unhealthy'})`).join(', ')}`);
  return { healthy: list.length };
}

/** Refuse a membership change that would lose quorum, with the arithmetic in the message. */
export function quorumPreflight(h: Json, all: string[], removeName: string | null, removeUrl: string | null): JsonObject {
  const healthy = new Set(healthList(h).filter((e) => e.health === true).map((e) => e.endpoint ?? ''));
  const n = all.length;
  const quorumNow = Math.floor(n / 2) + 1;
  const healthyNow = all.filter((u) => healthy.has(u)).length;
  if (healthyNow < quorumNow) throw new DeriveError(`refused: only ${healthyNow} of ${n} members are healthy, quorum is ${quorumNow}; a membership change needs quorum (use restore-all or force-new-cluster)`);
  if (removeName === null) return { members: n, healthy: healthyNow, quorum: quorumNow };
  if (removeUrl === null) throw new DeriveError(`refused: "${removeName}" is not a member in the inventory`);
  const after = n - 1;
  const quorumAfter = Math.floor(after / 2) + 1;
  const healthyAfter = all.filter((u) => u !== removeUrl && healthy.has(u)).length;
  if (after < 1) throw new DeriveError(`refused: removing ${removeName} would leave no members`);
  if (healthyAfter < quorumAfter) {
    throw new DeriveError(`refused: removing ${removeName} leaves ${healthyAfter} healthy of ${after} members, but quorum would be ${quorumAfter}; heal the other members first`);
  }
  return { members: n, healthy: healthyNow, quorum: quorumNow, members_after: after, healthy_after: healthyAfter, quorum_after: quorumAfter };
}

export function requireDown(h: Json): JsonObject {
  const alive = healthList(h).filter((e) => e.health === true);
  if (alive.length) throw new DeriveError(`refused: ${alive.map((e) => e.endpoint ?? '?').join(', ')} still serving; force-new-cluster would split the cluster (stop those members first, or use replace-member)`);
  return { down: healthList(h).length };
}

export function requireMembers(list: Json, expected: Json): JsonObject {
  const names = members(list)
    .map((m) => m.name)
    .sort();
  const want = (Array.isArray(expected) ? expected.map(String) : []).sort();
  if (JSON.stringify(names) !== JSON.stringify(want)) throw new DeriveError(`member list is [${names.join(', ')}], expected [${want.join(', ')}]`);
  const learners = members(list).filter((m) => m.isLearner);
  if (learners.length) throw new DeriveError(`members still learners: ${learners.map((m) => m.name).join(', ')}`);
  return { members: names };
}

/** Prove a restored member holds the snapshot's data: revision and live key count. */
export function requireData(count: Json, status: Json, manifest: Json, bump: number): JsonObject {
  const keys = (count as { count?: number } | null)?.count ?? 0;
  const st = endpointStatus(status)[0];
  const rev = (st?.revision as number | undefined) ?? 0;
  const m = manifest as { revision?: number; live_keys?: number | null } | null;
  if (m && typeof m.revision === 'number') {
    if (rev < m.revision) throw new DeriveError(`revision ${rev} is below the snapshot's ${m.revision}: data is missing`);
    if (typeof m.live_keys === 'number' && rev === m.revision + bump && keys !== m.live_keys) {
      throw new DeriveError(`${keys} keys, the snapshot had ${m.live_keys}`);
    }
  }
  return { revision: rev, keys };
}

export function alarms(raw: Json): JsonObject[] {
  const list = (raw as { alarms?: { memberID?: Json; alarm?: number | string }[] } | null)?.alarms ?? [];
  const names: Record<number, string> = { 1: 'NOSPACE', 2: 'CORRUPT' };
  return list.map((a) => ({ member_id: toHexId(a.memberID ?? '0'), alarm: typeof a.alarm === 'number' ? (names[a.alarm] ?? String(a.alarm)) : String(a.alarm) }));
}

export type DeriveFn = (...args: Json[]) => Json;

/** The only functions a plan may name in a `derive` action. */
export const DERIVE: Record<string, DeriveFn> = {
  member_id: (list, name) => memberId(list, t(name)),
  member_id_by_peer: (list, url) => memberIdByPeer(list, t(url)),
  initial_cluster_after_add: (list, name, url) => initialClusterAfterAdd(list, t(name), t(url)),
  snapshot_manifest: (status, file, path, member, version, count) => snapshotManifest(status, file, t(path), t(member), t(version), count ?? null),
  members: (list) => members(list) as unknown as Json,
  has_peer: (list, url) => members(list).some((m) => m.peerUrls.includes(t(url))),
  require_healthy: (h) => requireHealthy(h),
  require_down: (h) => requireDown(h),
  require_members: (list, expected) => requireMembers(list, expected),
  require_data: (count, status, manifest, bump) => requireData(count, status, manifest, Number(bump ?? 0)),
  quorum_preflight: (h, all, name, url) => quorumPreflight(h, (all as string[]) ?? [], name === null ? null : t(name), url === null ? null : t(url)),
  alarms: (raw) => alarms(raw),
  endpoint_status: (list) => endpointStatus(list),
  json: (v) => JSON.stringify(v, null, 2),
};
