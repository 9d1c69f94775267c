// The template context of one host: built-in facts, then variables by precedence
// (inventory → group → host, done in inventory/load.ts; then play vars; then extra vars).
// Run-time names (registered results, set_fact, run.*, secrets.*) are RuntimeRefs: placeholders in a plan.
import type { Host, Inventory, JsonObject } from '../model/types.js';
import { runtimeRef } from '../template/runtime.js';
import { controllerPath } from '../load/paths.js';

const clusterCache = new WeakMap<Inventory, object>();

function clusterFacts(inv: Inventory): object {
  const hit = clusterCache.get(inv);
  if (hit) return hit;
  const c = inv.cluster;
  const f = inv.facts;
  const value = {
    name: c.name,
    etcd_version: c.etcdVersion,
    deployment: c.deployment,
    scheme: c.scheme,
    token: c.token,
    data_dir: c.dataDir,
    backup_dir: c.backupDir,
    controller_backup_dir: controllerPath(c.controllerBackupDir),
    backup_retention: c.backupRetention,
    config_file: c.configFile,
    manifest_file: c.manifestFile,
    etcd_user: c.etcdUser,
    initial_cluster: f.initialCluster,
    endpoints: f.endpoints,
    size: f.size,
    quorum: f.quorum,
    fault_tolerance: f.faultTolerance,
    etcdctl: f.etcdctl,
    snapshot_tool: f.snapshotTool,
    tls_flags: f.tlsFlags,
    supports_learner: f.supportsLearner,
    supports_bump_revision: f.supportsBumpRevision,
    bump_revision: c.bumpRevision,
    members: f.members.map((m) => ({ name: m.name, peer_url: m.peerUrl, client_url: m.clientUrl, data_dir: m.dataDir })),
    member_names: f.members.map((m) => m.name),
    dependents: c.dependents,
    backup_metrics_dir: controllerPath(c.backupMetricsDir),
    // Only when set, so a playbook can say `when: cluster.backup_remote is defined` (decided at plan time).
    ...(c.backupRemote
      ? {
          backup_remote: {
            bucket: c.backupRemote.s3.bucket,
            prefix: c.backupRemote.s3.prefix,
            endpoint: c.backupRemote.s3.endpoint ?? '',
            region: c.backupRemote.s3.region,
          },
        }
      : {}),
  };
  clusterCache.set(inv, value);
  return value;
}

const hostsCache = new WeakMap<Inventory, object>();

function hostsTable(inv: Inventory): object {
  const hit = hostsCache.get(inv);
  if (hit) return hit;
  const value = Object.fromEntries(
    inv.hostOrder.map((n) => {
      const h = inv.hosts[n] as Host;
      return [
        n,
        {
          name: n,
          address: h.address,
          groups: h.groups,
          ...(h.etcd ? { member: { name: h.etcd.name, peer_url: h.etcd.peerUrl, client_url: h.etcd.clientUrl, data_dir: h.etcd.dataDir } } : {}),
        },
      ];
    }),
  );
  hostsCache.set(inv, value);
  return value;
}

export function hostContext(
  inv: Inventory,
  host: Host | undefined,
  playVars: JsonObject,
  extraVars: JsonObject,
  runtimeNames: Iterable<string>,
): Record<string, unknown> {
  const ctx: Record<string, unknown> = { ...(host?.vars ?? inv.vars), ...playVars, ...extraVars };
  for (const name of runtimeNames) ctx[name] = runtimeRef(name);
  ctx.cluster = clusterFacts(inv);
  ctx.groups = inv.groups;
  ctx.hosts = hostsTable(inv);
  ctx.run = runtimeRef('run');
  ctx.secrets = runtimeRef('secrets');
  // Every host's registered results and facts, known at run time (e.g. to pick the highest revision).
  ctx.hostvars = runtimeRef('hostvars');
  ctx.inventory_hostname = host?.name ?? 'localhost';
  ctx.host = host ? { name: host.name, address: host.address, groups: host.groups } : { name: 'localhost', address: '127.0.0.1', groups: [] };
  if (host?.etcd) ctx.member = { name: host.etcd.name, peer_url: host.etcd.peerUrl, client_url: host.etcd.clientUrl, data_dir: host.etcd.dataDir };
  return ctx;
}
