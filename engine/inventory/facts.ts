// Derived cluster facts, computed once from the inventory (never hand-written in playbooks).
import type { ClusterFacts, ClusterSettings, EtcdMember } from '../model/types.js';

export function parseVersion(v: string): [number, number, number] {
  const [a = 0, b = 0, c = 0] = v.split('.').map((x) => Number(x));
  return [a, b, c];
}

function atLeast(v: string, min: string): boolean {
  const x = parseVersion(v);
  const y = parseVersion(min);
  for (let i = 0; i < 3; i++) {
    if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) > (y[i] ?? 0);
  }
  return true;
}

/** --bump-revision/--mark-compacted: etcdctl 3.4.27+, 3.5.10+, etcdutl 3.6. */
export function supportsBumpRevision(version: string): boolean {
  const [, minor] = parseVersion(version);
  if (minor === 4) return atLeast(version, '3.4.27');
  if (minor === 5) return atLeast(version, '3.5.10');
  return atLeast(version, '3.6.0');
}

/**
 * etcd 3.4 vs 3.5: etcdctl 3.5's `endpoint health` also lists the cluster's alarms and reports a
 * member that answered as unhealthy when any is active (`"health":false,"error":"Active Alarm(s):
 * NOSPACE "`); 3.4 only asked for a key. A NOSPACE alarm leaves every member serving reads, and it
 * is what compact-defrag clears, so runbook keeps 3.4's meaning for that one alarm: such an entry
 * is healthy. Any other alarm (CORRUPT) stays unhealthy.
 */
/**
 * The same rule for a shell loop over `endpoint health --write-out=json` split one entry per line:
 * a grep BRE matching an entry whose only problem is NOSPACE alarms.
 */
export const NOSPACE_ONLY_ENTRY_BRE = '"error":"Active Alarm(s): \\(NOSPACE \\)\\{1,\\}"';

export function healthyDespiteAlarms(entry: { health?: unknown; error?: unknown }): boolean {
  return entry.health === true || (typeof entry.error === 'string' && /^Active Alarm\(s\): (NOSPACE )+$/.test(entry.error));
}

export function tlsFlags(c: ClusterSettings): string {
  if (!c.tls) return '';
  return `--cacert=${c.tls.ca} --cert=${c.tls.cert} --key=${c.tls.key}`;
}

export function deriveFacts(c: ClusterSettings, members: EtcdMember[]): ClusterFacts {
  const size = members.length;
  const needsApiEnv = !atLeast(c.etcdVersion, '3.4.0');
  const tls = tlsFlags(c);
  const etcdctl = `${needsApiEnv ? 'ETCDCTL_API=3 ' : ''}etcdctl${tls ? ` ${tls}` : ''}`;
  return {
    members,
    initialCluster: members.map((m) => `${m.name}=${m.peerUrl}`).join(','),
    endpoints: members.map((m) => m.clientUrl).join(','),
    size,
    quorum: Math.floor(size / 2) + 1,
    faultTolerance: Math.floor((size - 1) / 2),
    etcdctl,
    snapshotTool: atLeast(c.etcdVersion, '3.5.0') ? 'etcdutl' : 'etcdctl',
    tlsFlags: tls,
    supportsLearner: atLeast(c.etcdVersion, '3.4.0'),
    supportsBumpRevision: supportsBumpRevision(c.etcdVersion),
    needsApiEnv,
  };
}

/** The etcdctl invocation against the given endpoints (comma-separated client URLs). */
export function etcdctlFor(f: ClusterFacts, endpoints: string, opts: { probe?: boolean } = {}): string {
  const timeouts = opts.probe ? ' --dial-timeout=2s --command-timeout=5s' : '';
  return `${f.etcdctl} --endpoints=${endpoints}${timeouts}`;
}

/** The tool for `snapshot status|restore` (etcdutl from 3.5 on; it needs no endpoints or TLS). */
export function snapshotTool(f: ClusterFacts): string {
  return f.snapshotTool === 'etcdutl' ? 'etcdutl' : `${f.needsApiEnv ? 'ETCDCTL_API=3 ' : ''}etcdctl`;
}
