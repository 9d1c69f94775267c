// runbook inventory -i INVENTORY [--graph]: resolved hosts, groups, variables with their sources, derived facts.
import type { Inventory, Json } from '../model/types.js';
import { existsSync, writeFileSync } from 'node:fs';
import { loadInventoryOnly } from './inputs.js';
import { loadInventory } from '../inventory/load.js';
import { convertedYaml } from '../inventory/ansible.js';
import { formatDiagnostics } from '../report/diagnostics-text.js';
import { snakeKeys, stableStringify } from '../report/stable-json.js';
import { EXIT, type Io } from '../model/io.js';

function graph(inv: Inventory): string {
  const lines = ['@all:'];
  const groups = Object.keys(inv.groups).filter((g) => g !== 'all');
  groups.forEach((g) => {
    lines.push(`  |--@${g}:`);
    for (const h of inv.groups[g] ?? []) lines.push(`  |  |--${h}`);
  });
  const ungrouped = inv.hostOrder.filter((h) => !groups.some((g) => inv.groups[g]?.includes(h)));
  if (ungrouped.length) {
    lines.push('  |--@ungrouped:');
    for (const h of ungrouped) lines.push(`  |  |--${h}`);
  }
  return `${lines.join('\n')}\n`;
}

function text(inv: Inventory): string {
  const f = inv.facts;
  const c = inv.cluster;
  const out: string[] = [];
  out.push(`cluster ${c.name}: etcd ${c.etcdVersion}, ${c.deployment}, ${c.scheme}${c.tls ? ' (TLS)' : ''}`);
  out.push(
    `  members ${f.size} · quorum ${f.quorum} · tolerates ${f.faultTolerance} failure(s)${f.size % 2 === 0 ? ' · even size: adds no tolerance over ' + (f.size - 1) : ''}`,
  );
  out.push(`  initial_cluster ${f.initialCluster}`);
  out.push(`  endpoints       ${f.endpoints}`);
  out.push(`  etcdctl         ${f.etcdctl}`);
  out.push(
    `  snapshot tool   ${f.snapshotTool}${f.supportsBumpRevision ? ' (supports --bump-revision)' : ''}${f.supportsLearner ? ' · learners supported' : ''}`,
  );
  out.push(`  data_dir ${c.dataDir} · backup_dir ${c.backupDir} · controller backups ${c.controllerBackupDir} (keep ${c.backupRetention})`);
  if (c.dependents.length) out.push(`  dependents ${c.dependents.map((d) => `${d.group}: ${d.services.join(', ')}`).join('; ')}`);
  out.push('');
  out.push('groups:');
  for (const g of Object.keys(inv.groups).sort()) out.push(`  ${g}: ${(inv.groups[g] ?? []).join(', ')}`);
  out.push('');
  out.push('hosts:');
  for (const name of inv.hostOrder) {
    const h = inv.hosts[name];
    if (!h) continue;
    out.push(
      `  ${name}  ${h.ssh.user}@${h.address}:${h.ssh.port}  [${h.groups.join(', ')}]  host keys: ${h.ssh.hostKeyChecking}${h.ssh.jump ? ` · via ${h.ssh.jump}` : ''}`,
    );
    if (h.etcd) out.push(`    member ${h.etcd.name}  peer ${h.etcd.peerUrl}  client ${h.etcd.clientUrl}  data ${h.etcd.dataDir}`);
    for (const k of Object.keys(h.vars).sort()) {
      const secret = inv.secretVars.includes(k);
      out.push(`    ${k} = ${secret ? '<secret>' : JSON.stringify(h.vars[k])}   (${h.varSources[k] ?? '?'})`);
    }
  }
  if (inv.secretVars.length) out.push('', `secrets (read at run time, never printed): ${inv.secretVars.join(', ')}`);
  return `${out.join('\n')}\n`;
}

/** `--format json` of inventory: versioned, snake_case like the inventory file itself. */
export const INVENTORY_FORMAT = 'runbook-inventory/1';

/** Versioned, snake_case like the inventory file; host, group and variable names kept as written. */
export function inventoryJson(inv: Inventory): Json {
  return snakeKeys(
    { format: INVENTORY_FORMAT, cluster: inv.cluster, facts: inv.facts, groups: inv.groups, hosts: inv.hosts },
    { verbatim: ['vars', 'var_sources'], names: ['hosts', 'groups'] },
  ) as Json;
}

export function runInventory(opts: { inventory: string; graph?: boolean; format?: string }, io: Io): number {
  const r = loadInventoryOnly(opts.inventory);
  if (!r.inventory) {
    io.err(formatDiagnostics(r.diagnostics, r.texts));
    return EXIT.INVALID;
  }
  if (opts.graph) io.out(graph(r.inventory));
  else if (opts.format === 'json') io.out(stableStringify(inventoryJson(r.inventory)));
  else io.out(text(r.inventory));
  return EXIT.OK;
}

/** runbook inventory import -i ANSIBLE_INVENTORY [-o FILE]: the equivalent runbook inventory, checked before it is written. */
export function runInventoryImport(opts: { inventory: string; out?: string }, io: Io): number {
  const r = loadInventory(opts.inventory, opts.inventory);
  if (!r.converted) {
    const hint = r.diagnostics.length
      ? ''
      : `${opts.inventory} is already a runbook inventory (it has cluster:, hosts: and groups:): there is nothing to import\n`;
    if (r.diagnostics.length) io.err(formatDiagnostics(r.diagnostics, {}));
    else io.err(`runbook: ${hint}`);
    return EXIT.INVALID;
  }
  if (!r.inventory) {
    io.err(formatDiagnostics(r.diagnostics));
    return EXIT.INVALID;
  }
  const text = convertedYaml(r.converted, opts.inventory);
  if (!opts.out) {
    io.out(text);
    return EXIT.OK;
  }
  if (existsSync(opts.out)) {
    io.err(`runbook: ${opts.out} exists; runbook never overwrites a file: choose another --out, or move it aside first\n`);
    return EXIT.INVALID;
  }
  writeFileSync(opts.out, text, { mode: 0o644, flag: 'wx' });
  io.out(`wrote ${opts.out} (${Object.keys(r.inventory.hosts).length} hosts, etcd members ${r.inventory.facts.members.map((m) => m.name).join(', ')})\n`);
  return EXIT.OK;
}
