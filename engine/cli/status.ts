// runbook status -i INVENTORY: a read-only table of the cluster's members (name, ID, leader,
// revision, raft index, DB size, health). It applies the shipped playbooks/status.yml on one
// member over SSH — the first one in group etcd that is reachable — through the normal executor,
// and formats what its `etcd_health op: report` step registered (member list, endpoint status and
// endpoint health, all `-w json`, joined by derive.statusTable).
import { existsSync } from 'node:fs';
import type { Json } from '../model/types.js';
import type { StatusRow } from '../modules/derive.js';
import { executePlan } from '../execute/execute.js';
import { newRunId } from '../execute/scope.js';
import { formatDiagnostics } from '../report/diagnostics-text.js';
import { stableStringify } from '../report/stable-json.js';
import { resolveSecrets } from './apply.js';
import { buildPlan, loadInventoryOnly, resolvePlaybookPath } from './inputs.js';
import { EXIT, type Io } from '../model/io.js';
import { transportFactory, type HostConnection } from './transports.js';

export interface StatusOptions {
  inventory: string;
  format?: string;
  /** `-F FILE`: this OpenSSH client config instead of ~/.ssh/config and /etc/ssh/ssh_config. */
  sshConfig?: string;
}

interface Attempt {
  host: string;
  rows?: StatusRow[];
  unreachable?: string;
  failed?: string;
}

/** Run the status playbook on one host; undefined rows when it could not be asked. */
async function askVia(host: string, inventory: string, sshConfig: string | undefined): Promise<Attempt | { invalid: string }> {
  const built = buildPlan({ playbook: resolvePlaybookPath('status.yml'), inventory, limit: host });
  if (!built.plan || !built.inventory) return { invalid: formatDiagnostics(built.diagnostics, built.texts) };
  const plan = built.plan;
  const inv = built.inventory;
  const secrets = resolveSecrets(inv, plan);
  if (secrets.problems.length) return { invalid: secrets.problems.map((p) => `runbook: ${p}\n`).join('') };
  const connections: Record<string, HostConnection> = {};
  for (const [name, h] of Object.entries(inv.hosts)) connections[name] = { address: h.address, ssh: h.ssh };
  Object.assign(connections, plan.hosts);
  const factory = transportFactory(connections, {
    ...(secrets.values.ssh_passphrase !== undefined ? { passphrase: secrets.values.ssh_passphrase } : {}),
    ...(secrets.values.sudo_password !== undefined ? { sudoPassword: secrets.values.sudo_password } : {}),
    ...(sshConfig !== undefined ? { sshConfig: { file: sshConfig } } : {}),
  });
  const out: Attempt = { host };
  try {
    await executePlan(plan, {
      runId: newRunId(new Date()),
      startedAt: new Date(),
      forks: 1,
      check: false,
      transports: (h) => factory.get(h),
      emit: (type, data) => {
        if (type === 'host.unreachable') out.unreachable = (data as { message: string }).message;
        if (type === 'step.end') {
          const r = (data as { result: { status: string; value: Json; message?: string } }).result;
          if (r.status === 'ok' || r.status === 'changed') out.rows = r.value as unknown as StatusRow[];
          else if (r.status !== 'skipped' && r.status !== 'unreachable') out.failed = r.message ?? r.status;
        }
      },
      signal: new AbortController().signal,
      secrets: secrets.values,
    });
  } finally {
    await factory.closeAll();
  }
  return out;
}

function size(n: number | null): string {
  if (n === null) return '-';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1048576).toFixed(1)} MiB`;
}

export function formatStatusTable(rows: StatusRow[]): string {
  const head = ['NAME', 'ID', 'ENDPOINT', 'LEADER', 'REVISION', 'RAFT INDEX', 'DB SIZE', 'HEALTH'];
  const body = rows.map((r) => [
    r.name + (r.learner ? ' (learner)' : ''),
    r.id,
    r.endpoint || '-',
    r.leader ? 'leader' : '',
    r.revision === null ? '-' : String(r.revision),
    r.raft_index === null ? '-' : String(r.raft_index),
    size(r.db_size),
    r.health + (r.error ? ` (${r.error})` : ''),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(head), ...body.map(line)].join('\n') + '\n';
}

export async function runStatus(opts: StatusOptions, io: Io): Promise<number> {
  if (opts.sshConfig !== undefined && !existsSync(opts.sshConfig)) {
    io.err(`runbook: -F ${opts.sshConfig}: no such ssh config file\n`);
    return EXIT.INVALID;
  }
  const loaded = loadInventoryOnly(opts.inventory);
  if (!loaded.inventory) {
    io.err(formatDiagnostics(loaded.diagnostics, loaded.texts));
    return EXIT.INVALID;
  }
  const inv = loaded.inventory;
  const candidates = (inv.groups.etcd ?? []).filter((h) => inv.hosts[h]);
  const tried: string[] = [];
  for (const host of candidates) {
    const a = await askVia(host, opts.inventory, opts.sshConfig);
    if ('invalid' in a) {
      io.err(a.invalid);
      return EXIT.INVALID;
    }
    if (a.unreachable !== undefined) {
      tried.push(`  ${host}: unreachable: ${a.unreachable}`);
      continue;
    }
    if (!a.rows) {
      io.err(`runbook status: asked through ${host}: ${a.failed ?? 'no answer'}\n`);
      return EXIT.FAILED;
    }
    const rows = a.rows;
    const clusterIds = [...new Set(rows.map((r) => r.cluster_id).filter(Boolean))];
    const allHealthy = rows.length > 0 && rows.every((r) => r.health === 'healthy') && clusterIds.length === 1;
    if (opts.format === 'json') {
      io.out(
        stableStringify({
          format: 'runbook-status/1',
          cluster: inv.cluster.name,
          via: host,
          cluster_ids: clusterIds,
          healthy: allHealthy,
          members: rows as unknown as Json,
        }),
      );
    } else {
      io.out(`cluster ${inv.cluster.name} · cluster ID ${clusterIds.join(', ') || '-'} · ${rows.length} member(s) · asked through ${host}\n`);
      io.out(formatStatusTable(rows));
      if (clusterIds.length > 1) io.out(`WARNING: members disagree on the cluster ID (${clusterIds.join(', ')})\n`);
    }
    return allHealthy ? EXIT.OK : EXIT.FAILED;
  }
  io.err(`runbook status: no member of group etcd could be reached over SSH:\n${tried.join('\n')}\n`);
  return EXIT.FAILED;
}
