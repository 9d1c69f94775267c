// Membership-change preflights (add, remove, replace): pure functions of `member list` and
// `endpoint health` output that refuse a change losing quorum, with the arithmetic in the message.
// Named in plans as derive actions (derive-table.ts), like the rest of derive.ts.
import type { Json, JsonObject } from '../model/types.js';
import { DeriveError, healthList, members, type RawMember } from './derive.js';

/** The live membership with each member's health, from `member list` and `endpoint health --cluster`. */
function liveMembers(list: Json, h: Json): { name: string; url: string; healthy: boolean }[] {
  const healthy = new Set(
    healthList(h)
      .filter((e) => e.health === true)
      .map((e) => e.endpoint ?? ''),
  );
  return members(list).map((m) => ({ name: m.name, url: m.clientUrls[0] ?? '', healthy: m.clientUrls.some((u) => healthy.has(u)) }));
}

/** Refuse removing a member when the remaining members could not keep quorum (arithmetic in the message). */
export function quorumPreflightLive(list: Json, h: Json, removeName: string | null): JsonObject {
  const live = liveMembers(list, h);
  const all = live.map((m) => m.url);
  const removeUrl = removeName === null ? null : (live.find((m) => m.name === removeName)?.url ?? null);
  if (removeName !== null && removeUrl === null)
    throw new DeriveError(`refused: no member named "${removeName}" in the cluster (members: ${live.map((m) => m.name).join(', ')})`);
  return quorumPreflight(healthList(h).length ? h : [], all, removeName, removeUrl);
}

/** Refuse a membership change that would lose quorum, with the arithmetic in the message. */
export function quorumPreflight(h: Json, all: string[], removeName: string | null, removeUrl: string | null): JsonObject {
  const healthy = new Set(
    healthList(h)
      .filter((e) => e.health === true)
      .map((e) => e.endpoint ?? ''),
  );
  const n = all.length;
  const quorumNow = Math.floor(n / 2) + 1;
  const healthyNow = all.filter((u) => healthy.has(u)).length;
  if (healthyNow < quorumNow)
    throw new DeriveError(
      `refused: only ${healthyNow} of ${n} members are healthy, quorum is ${quorumNow}; a membership change needs quorum (use restore-all or force-new-cluster)`,
    );
  if (removeName === null) return { members: n, healthy: healthyNow, quorum: quorumNow };
  if (removeUrl === null) throw new DeriveError(`refused: "${removeName}" is not a member in the inventory`);
  const after = n - 1;
  const quorumAfter = Math.floor(after / 2) + 1;
  const healthyAfter = all.filter((u) => u !== removeUrl && healthy.has(u)).length;
  if (after < 1) throw new DeriveError(`refused: removing ${removeName} would leave no members`);
  if (healthyAfter < quorumAfter) {
    throw new DeriveError(
      `refused: removing ${removeName} leaves ${healthyAfter} healthy of ${after} members, but quorum would be ${quorumAfter}; heal the other members first`,
    );
  }
  return { members: n, healthy: healthyNow, quorum: quorumNow, members_after: after, healthy_after: healthyAfter, quorum_after: quorumAfter };
}

/**
 * add-member's preflight on the live member list: may `name` join at `peer`? Refused when another
 * member uses the peer URL, when `name` is a member elsewhere, or when it already is a voting
 * member (nothing to add). A member at `peer` that is unnamed (added, never started) or a learner
 * of the same name is what an interrupted run left: the run continues from there.
 * state: absent (add it), added (listed, never started: its data dir is still empty),
 * started (a learner that has run: its data dir is kept).
 */
export function addPreflight(list: Json, name: string, peer: string): JsonObject {
  const all = members(list);
  const atPeer = all.filter((m) => m.peerUrls.includes(peer));
  const other = atPeer.find((m) => m.name !== '' && m.name !== name);
  if (other) {
    throw new DeriveError(
      `refused: peer URL ${peer} is already used by member "${other.name}" (ID ${other.id}); remove that member first or give ${name} another address`,
    );
  }
  const elsewhere = all.find((m) => m.name === name && !m.peerUrls.includes(peer));
  if (elsewhere) {
    const at = elsewhere.peerUrls.join(', ');
    throw new DeriveError(`refused: a member named "${name}" already exists at ${at} (ID ${elsewhere.id}); use replace-member to move it to ${peer}`);
  }
  const same = atPeer[0];
  if (!same) return { state: 'absent', members_before: all.length };
  if (same.name === name && !same.isLearner) {
    throw new DeriveError(`refused: "${name}" is already a voting member at ${peer} (ID ${same.id}); nothing to add`);
  }
  return { state: same.name === '' ? 'added' : 'started', id: same.id, members_before: all.length - 1 };
}

/** remove-member's preflight on the voting members: never shrink a 2-member cluster, then the quorum arithmetic of quorumPreflightLive. */
export function shrinkPreflight(list: Json, h: Json, name: string): JsonObject {
  // Quorum counts voting members only: a learner neither votes nor keeps the cluster alive.
  const raw = (list as { members?: RawMember[] } | null)?.members ?? [];
  const voting: Json = { members: raw.filter((m) => m.isLearner !== true) as unknown as Json[] };
  const n = members(voting).length;
  if (n <= 2) {
    throw new DeriveError(
      `refused: the cluster has ${n} member(s); removing ${name} from a ${n}-member cluster is never done here ` +
        '(with 2 members, a failure during the change loses quorum for good). Add a member first, or use force-new-cluster',
    );
  }
  if (!members(voting).some((m) => m.name === name) && members(list).some((m) => m.name === name)) {
    throw new DeriveError(`refused: "${name}" is a learner, not a voting member; remove it by ID with etcdctl, or let add-member finish`);
  }
  return quorumPreflightLive(voting, h, name);
}
