// Derive functions of the membership lifecycle that derive.ts (at its size limit) does not hold:
// update-member's preflight, and the typed reading of etcd's refusals of a membership change.
import type { Json, JsonObject } from '../model/types.js';
import { healthyDespiteAlarms } from '../inventory/facts.js';
import { DeriveError, members } from './derive.js';

/** A DeriveError that retries cannot fix: the step fails at once (the executor reads `final`). */
export class FinalDeriveError extends DeriveError {
  readonly final = true;
}

interface HealthEntry {
  endpoint?: string;
  health?: boolean;
  error?: string;
}

function healthyUrls(h: Json): Set<string> {
  const list = Array.isArray(h) ? (h as unknown as HealthEntry[]) : [];
  return new Set(list.filter((e) => e.health === true || healthyDespiteAlarms(e)).map((e) => e.endpoint ?? ''));
}

/**
 * update-member's preflight on the live member list and health: may member `name` move to peer URL
 * `peer`? Exactly one member is named `name`, a voting member; no other member uses `peer`; and
 * while it restarts at its new address the other voting members keep quorum (healthy others ≥
 * quorum of the voting members). moved: its peer URL already is `peer` (a re-run after the
 * membership change): `member update` is not made again, the restart still is.
 */
export function updatePreflight(list: Json, h: Json, name: string, peer: string): JsonObject {
  const all = members(list);
  const named = all.filter((m) => m.name === name);
  if (named.length === 0) throw new DeriveError(`refused: no member named "${name}" in the cluster (members: ${all.map((m) => m.name).join(', ')})`);
  if (named.length > 1) throw new DeriveError(`refused: ${named.length} members are named "${name}"; fix that by ID with etcdctl first`);
  const self = named[0]!;
  if (self.isLearner) throw new DeriveError(`refused: "${name}" is a learner; let add-member finish (promote it) before moving it`);
  const other = all.find((m) => m.id !== self.id && m.peerUrls.includes(peer));
  if (other) {
    throw new DeriveError(`refused: peer URL ${peer} is already used by member "${other.name || '(not started)'}" (ID ${other.id}); pick another address`);
  }
  const voting = all.filter((m) => !m.isLearner);
  const healthy = healthyUrls(h);
  const quorum = Math.floor(voting.length / 2) + 1;
  const healthyOthers = voting.filter((m) => m.id !== self.id && m.clientUrls.some((u) => healthy.has(u))).length;
  if (healthyOthers < quorum) {
    throw new DeriveError(
      `refused: moving ${name} restarts it; the other members are ${healthyOthers} healthy of ${voting.length}, but quorum is ${quorum}; heal them first`,
    );
  }
  const moved = self.peerUrls.length === 1 && self.peerUrls[0] === peer;
  return { id: self.id, moved, old_peer_urls: self.peerUrls, members: voting.length, healthy_others: healthyOthers, quorum };
}

/**
 * etcd's refusals of a membership change, by the error etcd's API returns (rpctypes: etcdctl prints
 * the error's fixed description, one per gRPC error, part of etcd's API since 3.0). `always`: final
 * whatever the cluster looks like; otherwise final only while a member is unhealthy (etcd also says
 * "unhealthy cluster" for ≈ 5 s after a member (re)connects, which a retry outlasts).
 */
export const MEMBERSHIP_REFUSALS: { error: string; always: boolean; why: string }[] = [
  {
    // ErrGRPCNotEnoughStartedMembers: the strict reconfiguration check counts too few started members.
    error: 'etcdserver: re-configuration failed due to not enough started members',
    always: true,
    why:
      'etcd refused the change (strict reconfiguration check): too few members are started for the cluster to keep quorum through it; ' +
      'start or heal the others first',
  },
  {
    // ErrGRPCUnhealthy: a voting member is not connected to the leader (add), or the leader not to a quorum (remove).
    error: 'etcdserver: unhealthy cluster',
    always: false,
    why: 'etcd refused the change (strict reconfiguration check: every member must be connected to the leader)',
  },
  { error: 'etcdserver: Peer URLs already exists', always: true, why: 'etcd refused the change: another member already uses this peer URL' },
  {
    error: 'etcdserver: too many learner members in cluster',
    always: true,
    why: 'etcd refused the change: the cluster already has a learner; let it finish first',
  },
];

/** The refusal an etcdctl error output carries (its `Error: <description>` line), if any. */
export function membershipRefusal(output: string): (typeof MEMBERSHIP_REFUSALS)[number] | undefined {
  const lines = output.split('\n').map((l) => l.trim());
  return MEMBERSHIP_REFUSALS.find((x) => lines.some((l) => l === `Error: ${x.error}` || l === x.error));
}

/**
 * After a membership command (run with okCodes [0, 1]: its exit status and output kept), and the
 * cluster's health read after a failure: ok on exit 0; a refusal etcd will repeat (too few started
 * members; "unhealthy cluster" while a member really is unhealthy) fails the step at once, naming
 * the unhealthy members (FinalDeriveError: no retries); anything else fails it as usual (retried
 * when the task has retries).
 */
export function membershipResult(result: Json, h: Json): JsonObject {
  const r = (result ?? {}) as { rc?: number; stderr?: string; stdout?: string };
  if (r.rc === 0) return { ok: true };
  const output = `${r.stderr ?? ''}\n${r.stdout ?? ''}`;
  const last =
    output
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .pop() ?? '';
  const refusal = membershipRefusal(output);
  const list = Array.isArray(h) ? (h as unknown as HealthEntry[]) : [];
  const sick = list.filter((e) => e.health !== true && !healthyDespiteAlarms(e)).map((e) => `${e.endpoint ?? '?'} (${e.error ?? 'unhealthy'})`);
  if (refusal && (refusal.always || sick.length > 0)) {
    throw new FinalDeriveError(`refused: ${refusal.why}${sick.length ? `; unhealthy: ${sick.join(', ')}` : ''} (etcd: ${last})`);
  }
  throw new DeriveError(`exit code ${String(r.rc)}${last ? `: ${last}` : ''}`);
}
