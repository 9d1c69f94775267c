// The only functions a plan may name in a `derive` action: name → function (the executor looks
// them up here; README "Modules"). The functions live in derive.ts, derive-membership.ts and derive-certs.ts.
import { jsonText as t, type Json } from '../model/types.js';
import { membershipResult, updatePreflight } from './derive-members.js';
import { caKeyMatches, servedCerts, tlsCheck, type ServedSpec, type TlsSpec } from './derive-certs.js';
import {
  requireClusterVersion,
  requireInstalledRuns,
  requireVersion,
  rollbackPlan,
  upgradePreflight,
  upgradeTurn,
  upgradeTurnAny,
  versionFromImage,
  versionFromText,
} from './derive-upgrade.js';
import { retentionFromListing, runTime } from './retention.js';
import {
  alarms,
  checkArg,
  defragOrder,
  endpointStatus,
  highestRevisionFrom,
  initialClusterAfterAdd,
  memberId,
  memberIdByPeer,
  memberToReplace,
  members,
  pickHealthy,
  requireData,
  requireDown,
  requireHealthy,
  requireMembers,
  requireNoQuorum,
  requireOneCluster,
  sizeReport,
  snapshotManifest,
  statusTable,
  toInt,
} from './derive.js';
import { addPreflight, quorumPreflight, quorumPreflightLive, shrinkPreflight } from './derive-membership.js';

export type DeriveFn = (...args: Json[]) => Json;

/** The only functions a plan may name in a `derive` action. */
export const DERIVE: Record<string, DeriveFn> = {
  member_id: (list, name) => memberId(list, t(name)),
  member_id_by_peer: (list, url) => memberIdByPeer(list, t(url)),
  member_to_replace: (list, h, name, peer) => memberToReplace(list, h, t(name), t(peer)),
  initial_cluster_after_add: (list, name, url) => initialClusterAfterAdd(list, t(name), t(url)),
  snapshot_manifest: (status, file, path, endpoint, version, count, names) =>
    snapshotManifest(status, file, t(path), t(endpoint), t(version), count ?? null, names ?? null),
  members: (list) => members(list) as unknown as Json,
  has_peer: (list, url) => members(list).some((m) => m.peerUrls.includes(t(url))),
  require_healthy: (h) => requireHealthy(h),
  require_down: (h) => requireDown(h),
  require_members: (list, expected) => requireMembers(list, expected),
  require_data: (count, status, manifest, bump) => requireData(count, status, manifest, Number(bump ?? 0)),
  quorum_preflight_live: (list, h, name) => quorumPreflightLive(list, h, name === null ? null : t(name)),
  require_no_quorum: (h, size) => requireNoQuorum(h, Number(size)),
  pick_healthy: (h, prefer) => pickHealthy(h, t(prefer)),
  defrag_order: (status) => defragOrder(status),
  size_report: (before, after) => sizeReport(before, after),
  require_one_cluster: (status) => requireOneCluster(status),
  highest_revision_from: (hostvars, name) => highestRevisionFrom(hostvars, t(name)),
  quorum_preflight: (h, all, name, url) => quorumPreflight(h, (all as string[]) ?? [], name === null ? null : t(name), url === null ? null : t(url)),
  alarms: (raw) => alarms(raw),
  has_alarm: (list, name) => Array.isArray(list) && list.some((a) => (a as { alarm?: string } | null)?.alarm === t(name)),
  endpoint_status: (list) => endpointStatus(list),
  status_table: (list, status, health) => statusTable(list, status, health),
  json: (v) => JSON.stringify(v, null, 2),
  revision: (v) => toInt(v, 'revision'),
  add_preflight: (list, name, peer) => addPreflight(list, t(name), t(peer)),
  shrink_preflight: (list, h, name) => shrinkPreflight(list, h, t(name)),
  update_preflight: (list, h, name, peer) => updatePreflight(list, h, t(name), t(peer)),
  membership_result: (result, h) => membershipResult(result, h ?? null),
  tls_check: (spec, now) => tlsCheck(spec as unknown as TlsSpec, t(now)),
  ca_key_matches: (ca, file, key, secret) => caKeyMatches(ca as never, t(file), key as never, t(secret)),
  served_certs: (spec) => servedCerts(spec as unknown as ServedSpec),
  check_arg: (schema, arg, value) => checkArg(t(schema), t(arg), value ?? null),
  // upgrade.yml (derive-upgrade.ts)
  version_from_text: (out) => versionFromText(out),
  version_from_image: (image) => versionFromImage(image),
  upgrade_preflight: (status, version, offered) => upgradePreflight(status, version, offered),
  upgrade_turn: (status, self, target) => upgradeTurn(status, self, target),
  upgrade_turn_any: (status, self, target) => upgradeTurnAny(status, self, target),
  require_version: (status, expect) => requireVersion(status, expect),
  require_installed_runs: (status, installed, binary) => requireInstalledRuns(status, installed, binary),
  require_cluster_version: (status, version, expect) => requireClusterVersion(status, version, expect),
  rollback_plan: (status, version) => rollbackPlan(status, version),
  retention: (listing, cluster, rules, now) => {
    const r = (rules ?? {}) as { count?: number; max_age_sec?: number };
    const keep = { ...(typeof r.count === 'number' ? { count: r.count } : {}), ...(typeof r.max_age_sec === 'number' ? { maxAgeSec: r.max_age_sec } : {}) };
    return retentionFromListing(t(listing), t(cluster), keep, runTime(t(now))) as unknown as Json;
  },
};
