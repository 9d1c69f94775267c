// Pure decisions of a rolling upgrade (upgrade.yml, engine/modules/etcd/upgrade.ts): which versions
// may follow which, whose turn it is, and whether a rollback to the old binaries is still possible.
// Inputs are etcd's own JSON (`endpoint status -w json`, the `/version` endpoint) and `etcd --version`.
import { jsonText as t, type Json, type JsonObject } from '../model/types.js';
import { DeriveError, endpointStatus, toUrl } from './derive.js';

type Version = [number, number, number];

const VERSION = /^(\d{1,4})\.(\d{1,4})\.(\d{1,4})$/;

/** "3.5.30" → [3, 5, 30]; anything else (a pre-release, text) fails the step. */
export function parseVersion(v: Json | undefined, what: string): Version {
  const m = typeof v === 'string' ? VERSION.exec(v) : null;
  if (!m) throw new DeriveError(`${what}: expected an etcd release version like 3.5.30, got ${JSON.stringify(v) ?? 'nothing'}`);
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

const cmp = (a: Version, b: Version): number => a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
const minor = (v: Version): string => `${v[0]}.${v[1]}`;
const text = (v: Version): string => v.join('.');

/**
 * The lowest patch release etcd recommends for production, per minor: "The minimum recommended etcd
 * versions to run in production are v3.4.22+ and v3.5.6+" (etcd CHANGELOG/README.md; 3.5.0-3.5.2 can
 * lose committed writes under load). A target below it is refused.
 */
export const PRODUCTION_MINIMUM: Readonly<Record<string, string>> = { '3.4': '3.4.22', '3.5': '3.5.6' };

/**
 * Before moving a cluster to minor X, every member must run at least this release of X-1:
 * - 3.6: "Before upgrading to 3.6, make sure that all of your 3.5 members are updated to 3.5.26 or
 *   later. Patch releases 3.5.24 through 3.5.26 fix several potential upgrade blockers."
 *   (https://etcd.io/docs/latest/upgrades/upgrade_3_6/; the guide first said 3.5.20, after
 *   etcd-io/etcd#19557, "too many learner member in cluster"; raise this when the guide does).
 * - 3.5: the 3.5 guide names no patch; etcd's policy is "update to the most recent patch version
 *   before upgrading to the next minor version": runbook asks for 3.4's production minimum, 3.4.22.
 * A minor missing here has no upgrade guide runbook knows: refused.
 */
export const UPGRADE_FROM_MINIMUM: Readonly<Record<string, string>> = { '3.5': '3.4.22', '3.6': '3.5.26' };

/** `etcd --version` output → "3.5.30". */
export function versionFromText(out: Json): string {
  const m = /^etcd Version: (\S+)$/m.exec(t(out));
  return text(parseVersion(m?.[1], '`etcd --version`'));
}

/** A kubeadm etcd image → its etcd version: registry.k8s.io/etcd:3.5.30-0 → "3.5.30". */
export function versionFromImage(image: Json): string {
  const m = /^[A-Za-z0-9][A-Za-z0-9._/:-]*\/etcd:v?(\d+\.\d+\.\d+)(-\d+)?$/.exec(t(image));
  return text(parseVersion(m?.[1], `image ${JSON.stringify(t(image))} (expected …/etcd:3.5.30-0)`));
}

interface MemberVersion {
  endpoint: string;
  version: Version;
  leader: boolean;
}

/** `endpoint status -w json` → each member's endpoint, server version and leadership. */
function memberVersions(status: Json): MemberVersion[] {
  const raw = Array.isArray(status) ? status : [];
  const facts = endpointStatus(status);
  const list = facts.map((f, i) => {
    const v = (raw[i] as { Status?: { version?: Json } } | null)?.Status?.version;
    return { endpoint: toUrl(f.endpoint), version: parseVersion(v, `server version of ${f.endpoint}`), leader: f.leader };
  });
  if (list.length === 0) throw new DeriveError('no member answered `endpoint status`');
  return list;
}

const lowest = (vs: MemberVersion[]): Version => vs.map((v) => v.version).reduce((a, b) => (cmp(a, b) <= 0 ? a : b));
const highest = (vs: MemberVersion[]): Version => vs.map((v) => v.version).reduce((a, b) => (cmp(a, b) >= 0 ? a : b));
const listing = (vs: MemberVersion[]): string => vs.map((v) => `${v.endpoint} ${text(v.version)}`).join(', ');

/** `/version` → the cluster version ("3.4.0"): the lowest minor every member speaks, decided by the leader. */
function clusterVersion(versionJson: Json): Version {
  return parseVersion((versionJson as { etcdcluster?: Json } | null)?.etcdcluster, 'cluster version (/version etcdcluster)');
}

/**
 * May the cluster move to `offered`? One minor at a time, never down, never below the documented
 * minimums. A cluster already partly at `offered` (an interrupted upgrade) continues.
 */
export function upgradePreflight(status: Json, versionJson: Json, offered: Json): JsonObject {
  const vs = memberVersions(status);
  const to = parseVersion(t(offered), 'offered binaries');
  const low = lowest(vs);
  const high = highest(vs);
  const cluster = clusterVersion(versionJson);
  const running = listing(vs);
  if (to[0] !== 3 || low[0] !== 3) throw new DeriveError(`refused: runbook upgrades etcd 3.x only (offered ${text(to)}; running ${running})`);
  if (cmp(to, high) < 0) {
    throw new DeriveError(
      `refused: the offered binaries are etcd ${text(to)}, older than ${text(high)} that runs now (${running}): this would be a downgrade. ` +
        'Going back during an upgrade (members still on the old version) is -e rollback=true; after it, restore-all from the pre-upgrade snapshot',
    );
  }
  const gap = to[1] - low[1];
  if (gap > 1) {
    throw new DeriveError(
      `refused: etcd ${text(to)} skips a minor version: the cluster runs ${running} (cluster version ${text(cluster)}). ` +
        `etcd supports upgrades one minor at a time: upgrade to the newest ${low[0]}.${low[1] + 1}.x first`,
    );
  }
  if (gap === 1) {
    const from = UPGRADE_FROM_MINIMUM[minor(to)];
    if (from === undefined) throw new DeriveError(`refused: runbook knows no etcd upgrade guide for ${minor(low)} → ${minor(to)}`);
    const old = vs.filter((v) => v.version[1] === low[1] && cmp(v.version, parseVersion(from, 'minimum')) < 0);
    if (old.length) {
      throw new DeriveError(
        `refused: before upgrading to ${minor(to)}, every member must run ${from} or later (etcd's upgrade guide); ${listing(old)}: ` +
          `upgrade them to the newest ${minor(low)}.x first`,
      );
    }
  }
  const prod = PRODUCTION_MINIMUM[minor(to)];
  if (prod !== undefined && cmp(to, parseVersion(prod, 'minimum')) < 0) {
    throw new DeriveError(`refused: etcd ${text(to)} is below ${prod}, the lowest ${minor(to)} release etcd recommends for production`);
  }
  if (cluster[1] !== low[1] || cluster[0] !== low[0]) {
    throw new DeriveError(`refused: the cluster version is ${text(cluster)} but the oldest member runs ${text(low)}: check the cluster before upgrading`);
  }
  const pending = vs.filter((v) => cmp(v.version, to) !== 0).map((v) => v.endpoint);
  return { from: text(low), to: text(to), kind: gap === 1 ? 'minor' : 'patch', cluster_version: text(cluster), pending };
}

/**
 * Is it this member's turn? Not when it already runs `target`; with `leaderLast`, not while it leads
 * and another member still waits (followers first, the leader last: one leader election, at the end).
 */
export function upgradeTurn(status: Json, self: Json, target: Json): JsonObject {
  return turn(status, self, target, true);
}

/** The last round: every member not yet at `target` goes, leader or not (leadership may have moved). */
export function upgradeTurnAny(status: Json, self: Json, target: Json): JsonObject {
  return turn(status, self, target, false);
}

function turn(status: Json, self: Json, target: Json, leaderLast: boolean): JsonObject {
  const vs = memberVersions(status);
  const want = parseVersion(t(target), 'target');
  const me = vs.find((v) => v.endpoint === t(self));
  if (!me) throw new DeriveError(`${t(self)} did not answer \`endpoint status\` (${listing(vs)})`);
  const version = text(me.version);
  if (cmp(me.version, want) === 0) return { upgrade: false, version, leader: me.leader, reason: `already runs ${version}` };
  const waiting = vs.filter((v) => v.endpoint !== me.endpoint && cmp(v.version, want) !== 0);
  if (leaderLast && me.leader && waiting.length > 0) {
    return { upgrade: false, version, leader: true, reason: `the leader goes last (${waiting.length} other member(s) first)` };
  }
  return { upgrade: true, version, leader: me.leader, reason: `${version} → ${text(want)}` };
}

/**
 * The etcd binary installed where the upgrade will replace it is the one this member runs: otherwise
 * `etcd_bin_dir` is not where the unit runs etcd from (the upgrade would replace the wrong files), or a
 * binary was replaced without a restart. Refused before anything changes.
 */
export function requireInstalledRuns(status: Json, installed: Json, binary: Json): JsonObject {
  const vs = memberVersions(status);
  const inst = parseVersion(t(installed), `${t(binary)} --version`);
  const off = vs.filter((v) => cmp(v.version, inst) !== 0);
  if (off.length) {
    throw new DeriveError(
      `refused: ${t(binary)} is etcd ${text(inst)} but ${listing(off)} runs: set etcd_bin_dir to where the etcd unit runs etcd from, ` +
        'or restart etcd there first if its binary was replaced without a restart',
    );
  }
  return { installed: text(inst) };
}

/** This member answers with `expect` as its server version. */
export function requireVersion(status: Json, expect: Json): JsonObject {
  const vs = memberVersions(status);
  const want = parseVersion(t(expect), 'expected version');
  const off = vs.filter((v) => cmp(v.version, want) !== 0);
  if (off.length) throw new DeriveError(`${listing(off)}: expected etcd ${text(want)}`);
  return { version: text(want), members: vs.length };
}

/** Every member at `expect`, and the cluster version moved to its minor (the leader does that shortly after the last member). */
export function requireClusterVersion(status: Json, versionJson: Json, expect: Json): JsonObject {
  const members = requireVersion(status, expect);
  const want = parseVersion(t(expect), 'expected version');
  const cluster = clusterVersion(versionJson);
  if (cluster[0] !== want[0] || cluster[1] !== want[1]) {
    throw new DeriveError(`the cluster version is still ${text(cluster)}; every member runs ${text(want)} (the leader raises it shortly after)`);
  }
  return { ...members, cluster_version: text(cluster) };
}

/**
 * A binary rollback is possible only while the cluster is mixed: some member still runs the old
 * version and the cluster version is still the old minor. Then every member goes back to the oldest.
 */
export function rollbackPlan(status: Json, versionJson: Json): JsonObject {
  const vs = memberVersions(status);
  const low = lowest(vs);
  const high = highest(vs);
  const cluster = clusterVersion(versionJson);
  if (cmp(low, high) === 0) {
    throw new DeriveError(
      `refused: every member runs ${text(low)} (cluster version ${text(cluster)}): there is nothing to roll back to with binaries. ` +
        'Once every member runs the new version, going back means restore-all.yml from the pre-upgrade snapshot (-e snapshot=PATH)',
    );
  }
  if (cluster[0] !== low[0] || cluster[1] !== low[1]) {
    throw new DeriveError(
      `refused: the cluster version is already ${text(cluster)}, newer than ${text(low)}: the old binaries cannot join it. ` +
        'Going back means restore-all.yml from the pre-upgrade snapshot (-e snapshot=PATH)',
    );
  }
  return { to: text(low), from: text(high), pending: vs.filter((v) => cmp(v.version, low) !== 0).map((v) => v.endpoint) };
}
