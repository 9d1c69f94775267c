// Pure functions that turn one action's parsed output into values later actions use
// (a member ID looked up by name, a snapshot manifest). Steps name them in the plan
// (`derive mid = member_id(members, "etcd-3")`), and the executor calls them from this fixed table.
import { jsonText as t, type Json, type JsonObject } from '../model/types.js';
import { healthyDespiteAlarms } from '../inventory/facts.js';
import { argPattern } from '../validate/schema.js';

export class DeriveError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeriveError';
  }
}

/**
 * etcd prints uint64 IDs as JSON numbers beyond 2^53: keep every long integer as a string.
 * Strings are matched first, so digits inside them (error messages, keys) are left alone.
 */
export function parseEtcdJson(text: string): Json {
  const safe = text.replace(/"(?:[^"\\]|\\.)*"|(?<![\d.])-?\d{16,}(?![\d.eE])/g, (m) => (m.startsWith('"') ? m : `"${m}"`));
  return JSON.parse(safe) as Json;
}

export function toHexId(id: Json | undefined): string {
  if (typeof id === 'string' && /^\d+$/.test(id)) return BigInt(id).toString(16);
  if (typeof id === 'number') return BigInt(id).toString(16);
  if (typeof id === 'string' && /^[0-9a-f]+$/i.test(id)) return id.toLowerCase();
  throw new DeriveError(`not a member ID: ${JSON.stringify(id)}`);
}

const CLIENT_URL = /^https?:\/\/([A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9a-fA-F:]+\]):[0-9]{1,5}$/;

/** A client URL read from etcd's output (it goes into --endpoints=): anything else fails the step. */
export function toUrl(v: Json | undefined): string {
  if (typeof v !== 'string' || !CLIENT_URL.test(v)) throw new DeriveError(`not a client URL: ${JSON.stringify(v) ?? 'nothing'}`);
  return v;
}

/** A whole number read from host output (a revision, a count): anything else fails the step. */
export function toInt(v: Json | undefined, what: string): number {
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0)
    throw new DeriveError(`${what}: expected a whole number, got ${JSON.stringify(v) ?? 'nothing'}`);
  return n;
}

/**
 * A module argument that was only known at run time (a registered value), checked against the same
 * schema pattern a plan-time value meets: a path starting with "-", a name with a quote, … fail the
 * step before its commands run.
 */
export function checkArg(schema: string, arg: string, value: Json): Json {
  const p = argPattern(schema, arg);
  if (p && !new RegExp(p.pattern, 'u').test(t(value))) {
    throw new DeriveError(`refused: ${schema} ${arg} ${JSON.stringify(t(value))} (a run-time value) is not valid: expected ${p.description}`);
  }
  return value;
}

export interface RawMember {
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

/**
 * The ID of the member to remove when replacing `name` by a member at `newPeer`. A member that
 * already is the healthy replacement (same name, the new peer URL) is never picked, so a re-run
 * after a successful swap cannot remove the new member.
 */
export function memberToReplace(list: Json, h: Json, name: string, newPeer: string): string {
  const healthy = new Set(
    healthList(h)
      .filter((e) => e.health === true)
      .map((e) => e.endpoint ?? ''),
  );
  const named = members(list).filter((m) => m.name === name);
  if (named.length === 0) throw new DeriveError(`no member named "${name}" in the member list`);
  const candidates = named.filter((m) => !(m.peerUrls.includes(newPeer) && m.clientUrls.some((u) => healthy.has(u))));
  if (candidates.length === 0) throw new DeriveError(`refused: the only member named "${name}" is already the healthy replacement at ${newPeer}`);
  if (candidates.length > 1) throw new DeriveError(`refused: ${candidates.length} members are named "${name}"; remove the right one by ID with etcdctl`);
  return candidates[0]!.id;
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

/**
 * `endpoint` is the client URL the snapshot was read from; `names` maps the cluster's client URLs
 * to member names (from the inventory), so the manifest names the member, not only its URL.
 */
export function snapshotManifest(
  status: Json,
  file: Json,
  path: string,
  endpoint: string,
  version: string,
  count: Json = null,
  names: Json = null,
): JsonObject {
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
    source_member: (names as Record<string, Json> | null)?.[endpoint] ?? endpoint,
    source_endpoint: endpoint,
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

export interface EndpointStatus {
  [key: string]: Json;
  endpoint: string;
  id: string;
  cluster_id: string;
  leader: boolean;
  revision: number;
  raft_index: number;
  raft_term: number;
  db_size: number;
  db_size_in_use: number;
  is_learner: boolean;
  errors: string[];
}

/** endpoint status -w json → per-member facts (leader, revision, raft index, DB size). */
export function endpointStatus(list: Json): EndpointStatus[] {
  const arr = Array.isArray(list) ? list : [];
  return arr.map((e) => {
    const x = e as {
      Endpoint?: string;
      Status?: {
        header?: { member_id?: Json; revision?: number; cluster_id?: Json };
        leader?: Json;
        raftIndex?: number;
        raftTerm?: number;
        dbSize?: number;
        dbSizeInUse?: number;
        errors?: string[];
        isLearner?: boolean;
      };
    };
    const st = x.Status ?? {};
    const id = toHexId(st.header?.member_id ?? '0');
    return {
      endpoint: x.Endpoint ?? '',
      id,
      cluster_id: toHexId(st.header?.cluster_id ?? '0'),
      leader: toHexId(st.leader ?? '0') === id,
      revision: toInt(st.header?.revision ?? 0, 'revision'),
      raft_index: st.raftIndex ?? 0,
      raft_term: st.raftTerm ?? 0,
      db_size: st.dbSize ?? 0,
      db_size_in_use: st.dbSizeInUse ?? 0,
      is_learner: st.isLearner === true,
      errors: st.errors ?? [],
    };
  });
}

export interface HealthEntry {
  endpoint?: string;
  health?: boolean;
  error?: string;
}

export function healthList(h: Json): HealthEntry[] {
  // etcd 3.5 reports a NOSPACE alarm as unhealthy, 3.4 did not: see healthyDespiteAlarms.
  return Array.isArray(h) ? (h as unknown as HealthEntry[]).map((e) => (e.health !== true && healthyDespiteAlarms(e) ? { ...e, health: true } : e)) : [];
}

export function requireHealthy(h: Json): JsonObject {
  const list = healthList(h);
  const bad = list.filter((e) => e.health !== true);
  if (list.length === 0) throw new DeriveError('no endpoint answered the health check');
  if (bad.length) throw new DeriveError(`unhealthy: ${bad.map((e) => `${e.endpoint ?? '?'} (${e.error ?? 'unhealthy'})`).join(', ')}`);
  return { healthy: list.length };
}

/** restore-all is for a cluster that lost quorum: refuse while a quorum still serves (a restore would discard newer writes). */
export function requireNoQuorum(h: Json, size: number): JsonObject {
  const healthy = healthList(h).filter((e) => e.health === true).length;
  const quorum = Math.floor(size / 2) + 1;
  if (healthy >= quorum) {
    throw new DeriveError(
      `refused: ${healthy} of ${size} members are healthy (quorum ${quorum}); the cluster has not lost quorum and a restore would discard every write since the snapshot. Repair single members with replace-member, or pass -e allow_healthy=true to restore anyway`,
    );
  }
  return { healthy, quorum };
}

/** The healthy endpoint to read from: this host's own member when healthy, else the first healthy one. */
export function pickHealthy(h: Json, prefer: string): string {
  const ok = healthList(h)
    .filter((e) => e.health === true)
    .map((e) => e.endpoint ?? '')
    .sort();
  if (ok.includes(prefer)) return toUrl(prefer);
  if (!ok[0]) throw new DeriveError('no healthy member to take a snapshot from');
  return toUrl(ok[0]);
}

/** Defragment followers first and the leader last (rule 6). */
export function defragOrder(status: Json): string[] {
  const list = endpointStatus(status);
  const followers = list
    .filter((s) => s.leader !== true)
    .map((s) => s.endpoint)
    .sort();
  const leaders = list.filter((s) => s.leader === true).map((s) => s.endpoint);
  return [...followers, ...leaders].map(toUrl);
}

export function sizeReport(before: Json, after: Json): string {
  const b = new Map(endpointStatus(before).map((s) => [s.endpoint, s]));
  const lines = endpointStatus(after).map((s) => {
    const was = b.get(s.endpoint);
    const mb = (n: unknown): string => `${((typeof n === 'number' ? n : 0) / 1048576).toFixed(1)} MiB`;
    return `${s.endpoint}${s.leader === true ? ' (leader)' : ''}: ${mb(was?.db_size)} → ${mb(s.db_size)}`;
  });
  return lines.join('\n');
}

export interface EndpointHealth {
  [key: string]: Json;
  endpoint: string;
  health: boolean;
  error: string;
}

/** endpoint health -w json → one entry per endpoint (unhealthy ones with their error). */
export function endpointHealth(h: Json): EndpointHealth[] {
  return healthList(h)
    .map((e) => ({ endpoint: e.endpoint ?? '', health: e.health === true, error: e.error ?? '' }))
    .sort((a, b) => a.endpoint.localeCompare(b.endpoint));
}

export interface StatusRow {
  [key: string]: Json;
  name: string;
  id: string;
  endpoint: string;
  cluster_id: string;
  leader: boolean;
  learner: boolean;
  /** null: the member did not answer `endpoint status`. */
  revision: number | null;
  raft_index: number | null;
  raft_term: number | null;
  db_size: number | null;
  db_size_in_use: number | null;
  health: 'healthy' | 'unhealthy' | 'unknown';
  error: string;
}

/**
 * `runbook status`: one row per member of the member list, joined by client URL with its
 * endpoint status and health (members that did not answer keep nulls and the error).
 */
export function statusTable(list: Json, status: Json, health: Json): StatusRow[] {
  const st = new Map(endpointStatus(status).map((s) => [s.endpoint, s]));
  const hl = new Map(endpointHealth(health).map((h) => [h.endpoint, h]));
  return members(list)
    .map((m) => {
      const url = m.clientUrls.find((u) => st.has(u) || hl.has(u)) ?? m.clientUrls[0] ?? '';
      const s = st.get(url);
      const h = hl.get(url);
      const errors = [...(s?.errors ?? []), ...(h && !h.health && h.error ? [h.error] : [])];
      return {
        name: m.name || '(not started)',
        id: m.id,
        endpoint: url,
        cluster_id: s?.cluster_id ?? '',
        leader: s?.leader ?? false,
        learner: m.isLearner,
        revision: s ? s.revision : null,
        raft_index: s ? s.raft_index : null,
        raft_term: s ? s.raft_term : null,
        db_size: s ? s.db_size : null,
        db_size_in_use: s ? s.db_size_in_use : null,
        health: h ? (h.health ? 'healthy' : 'unhealthy') : 'unknown',
        error: errors.join('; ') || (s ? '' : 'no endpoint status'),
      } satisfies StatusRow;
    })
    .sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
}

export function requireOneCluster(status: Json): JsonObject {
  const ids = [...new Set(endpointStatus(status).map((s) => s.cluster_id))];
  if (ids.length !== 1) throw new DeriveError(`members disagree on the cluster ID: ${ids.join(', ')}`);
  return { cluster_id: ids[0] ?? '' };
}

/** From every host's registered `snapshot status` of its on-disk db, the host with the highest revision. */
export function highestRevisionFrom(hostvars: Json, name: string): JsonObject {
  const statuses: Record<string, Json> = {};
  const hv = (hostvars ?? {}) as Record<string, Record<string, Json> | undefined>;
  for (const host of Object.keys(hv)) {
    const v = hv[host]?.[name];
    if (v !== undefined) statuses[host] = v;
  }
  const best = highestRevision(statuses);
  return { host: best.host, revision: best.revision };
}

/** `endpoint status` answers from every running member, with or without quorum: any answer means alive. */
export function requireDown(status: Json): JsonObject {
  const alive = endpointStatus(status).map((s) => s.endpoint);
  if (alive.length)
    throw new DeriveError(
      `refused: ${alive.join(', ')} still running; force-new-cluster would split the cluster (stop those members first, or use replace-member if quorum is intact)`,
    );
  return { alive: 0 };
}

export function requireMembers(list: Json, expected: Json): JsonObject {
  const names = members(list)
    .map((m) => m.name)
    .sort();
  const want = (Array.isArray(expected) ? expected.map((x) => t(x)) : t(expected).split(',').filter(Boolean)).sort();
  if (JSON.stringify(names) !== JSON.stringify(want)) throw new DeriveError(`member list is [${names.join(', ')}], expected [${want.join(', ')}]`);
  const learners = members(list).filter((m) => m.isLearner);
  if (learners.length) throw new DeriveError(`members still learners: ${learners.map((m) => m.name).join(', ')}`);
  return { members: names };
}

/** Prove a restored member holds the snapshot's data: revision and live key count. */
export function requireData(count: Json, status: Json, manifest: Json, bump: number): JsonObject {
  const keys = (count as { count?: number } | null)?.count ?? 0;
  const st = endpointStatus(status)[0];
  const rev = st?.revision ?? 0;
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
  return list.map((a) => ({
    member_id: toHexId(a.memberID ?? '0'),
    alarm: typeof a.alarm === 'number' ? (names[a.alarm] ?? String(a.alarm)) : String(a.alarm),
  }));
}
