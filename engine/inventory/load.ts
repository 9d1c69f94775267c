// Inventory: YAML → schema check → resolved hosts, groups, variables and derived cluster facts.
//
// Variable precedence, lowest to highest (the one place it is implemented; README "Variables"):
//   1. inventory `vars`
//   2. group `vars`, groups applied in alphabetical order of their names
//   3. host `vars`
//   4. play `vars` (playbook)
//   5. registered results and set_fact (run time)
//   6. extra vars (-e key=value), which always win
// Steps 4–6 happen in compile/context.ts and at run time; this file does 1–3.
import { dirname, isAbsolute, resolve } from 'node:path';
import { homedir } from 'node:os';
import { isIPv6 } from 'node:net';
import { BUILTIN_HINT, builtinNameMessage, isBuiltinName } from '../model/names.js';
import { diag, type Diagnostic } from '../model/diagnostics.js';
import { jsonText, type ClusterSettings, type EtcdMember, type Host, type Inventory, type Json, type JsonObject, type SshSettings } from '../model/types.js';
import { INPUT_LIMITS, overLimit } from '../load/limits.js';
import { Document as YamlDocument } from 'yaml';
import { locate, parseYaml, sha256, type Source } from '../load/source.js';
import { readInputText } from '../load/limits.js';
import { schemaDiagnostics } from '../validate/schema.js';
import { deriveFacts } from './facts.js';
import { keepRules, remoteBackup, remoteBackupProblems } from './backup-settings.js';
import { convertAnsible, type Converted } from './ansible.js';
import { inventoryKind, type At } from './ansible-parse.js';
import { resolveHostTls } from './tls.js';

type Raw = Record<string, Json | undefined>;

function obj(v: Json | undefined): Raw {
  return v && typeof v === 'object' && !Array.isArray(v) ? v : {};
}

function resolvePath(base: string, p: string): string {
  if (p.startsWith('~/')) return resolve(homedir(), p.slice(2));
  return isAbsolute(p) ? p : resolve(base, p);
}

/** scheme://host:port, an IPv6 address in brackets (https://[fd00::11]:2380). */
export function hostUrl(scheme: string, address: string, port: number): string {
  return `${scheme}://${isIPv6(address) ? `[${address}]` : address}:${port}`;
}

/** Addresses the schema lets through by shape (hex digits and colons) that are not IPv6 addresses. */
function addressProblems(source: Source, rawHosts: Raw): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const [name, h] of Object.entries(rawHosts)) {
    const a = obj(h).address;
    if (typeof a === 'string' && a.includes(':') && !isIPv6(a)) {
      const at = locate(source, ['hosts', name, 'address']);
      out.push(diag('schema-pattern', `"${a}" is not an IPv6 address`, at, { length: at.length, hint: 'an IPv6 address without brackets, e.g. fd00::11' }));
    }
  }
  return out;
}

/**
 * SSH files keep a leading ~ as written: the plan then reads the same on every machine (HOME differs
 * between CI and a laptop), and the transport expands it when it connects (transports/ssh/auth.ts).
 */
function sshPath(base: string, p: string): string {
  return p === '~' || p.startsWith('~/') ? p : resolvePath(base, p);
}

/** Natural order: etcd-2 before etcd-10. */
export function naturalCompare(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

function sshSettings(base: string, defaults: Raw, own: Raw): SshSettings {
  const m = { ...defaults, ...own };
  const s: SshSettings = {
    user: typeof m.user === 'string' ? m.user : 'root',
    port: typeof m.port === 'number' ? m.port : 22,
    knownHosts: sshPath(base, typeof m.known_hosts === 'string' ? m.known_hosts : '~/.ssh/known_hosts'),
    hostKeyChecking: m.host_key_checking === 'accept-new' || m.host_key_checking === 'off' ? m.host_key_checking : 'strict',
    connectTimeoutSec: typeof m.connect_timeout === 'number' ? m.connect_timeout : 10,
    keepaliveSec: typeof m.keepalive === 'number' ? m.keepalive : 5,
  };
  if (m.session_shell === false) s.sessionShell = false;
  // What the inventory did not set, an OpenSSH config may (applied when connecting, so plans stay the same on every machine).
  const defaulted = (
    [
      ['user', 'user'],
      ['port', 'port'],
      ['known_hosts', 'knownHosts'],
      ['host_key_checking', 'hostKeyChecking'],
      ['connect_timeout', 'connectTimeoutSec'],
      ['jump', 'jump'],
    ] as const
  )
    .filter(([k]) => m[k] === undefined)
    .map(([, prop]) => prop);
  if (defaulted.length) s.defaulted = defaulted;
  if (typeof m.identity_file === 'string') s.identityFile = sshPath(base, m.identity_file);
  // `jump: none` on a host switches off a default jump host (e.g. for the bastion itself).
  if (typeof m.jump === 'string' && m.jump !== 'none') s.jump = m.jump;
  return s;
}

function clusterSettings(base: string, c: Raw): ClusterSettings {
  const tls = obj(c.tls);
  const deployment = c.deployment === 'static-pod' ? 'static-pod' : 'systemd';
  const scheme = c.scheme === 'http' || c.scheme === 'https' ? c.scheme : c.tls ? 'https' : 'http';
  const s = (k: string, d: string): string => (typeof c[k] === 'string' ? c[k] : d);
  const n = (k: string, d: number): number => (typeof c[k] === 'number' ? c[k] : d);
  const settings: ClusterSettings = {
    name: s('name', 'etcd'),
    etcdVersion: s('etcd_version', '3.4.23'),
    deployment,
    scheme,
    token: s('token', `${s('name', 'etcd')}-cluster`),
    dataDir: s('data_dir', '/var/lib/etcd'),
    backupDir: s('backup_dir', '/var/backups/etcd'),
    controllerBackupDir: resolvePath(base, s('controller_backup_dir', './backups')),
    backupRetention: n('backup_retention', 24),
    configFile: s('config_file', '/etc/etcd/etcd.conf'),
    manifestFile: s('manifest_file', '/etc/kubernetes/manifests/etcd.yaml'),
    clientPort: n('client_port', 2379),
    peerPort: n('peer_port', 2380),
    etcdUser: s('etcd_user', deployment === 'static-pod' ? 'root' : 'etcd'),
    dependents: (Array.isArray(c.dependents) ? c.dependents : []).map((d) => ({
      group: jsonText(obj(d).group),
      services: (obj(d).services as string[] | undefined) ?? [],
    })),
    // Kubernetes clusters restore with a bumped revision so watchers notice (when the tool can).
    bumpRevision: n('bump_revision', deployment === 'static-pod' ? 1_000_000_000 : 0),
    backupKeep: keepRules(c.backup_keep, n('backup_retention', 24)),
    backupMetricsDir: resolvePath(base, s('backup_metrics_dir', s('controller_backup_dir', './backups'))),
  };
  const remote = remoteBackup(c);
  if (remote) settings.backupRemote = remote;
  if (c.tls) {
    const t = (k: string): string | undefined => (typeof tls[k] === 'string' ? tls[k] : undefined);
    settings.tls = { ca: t('ca') ?? '', cert: t('cert') ?? '', key: t('key') ?? '' };
    for (const [k, prop] of [
      ['server_cert', 'serverCert'],
      ['server_key', 'serverKey'],
      ['peer_ca', 'peerCa'],
      ['peer_cert', 'peerCert'],
      ['peer_key', 'peerKey'],
    ] as const) {
      const v = t(k);
      if (v) settings.tls[prop] = v;
    }
  }
  return settings;
}

export interface InventoryResult {
  inventory?: Inventory;
  /** The runbook YAML read (absent for an Ansible inventory: its diagnostics point into the Ansible files themselves). */
  source?: Source;
  diagnostics: Diagnostic[];
  /** Set when the file was an Ansible/kubespray inventory: the converted document and where each value came from. */
  converted?: Converted;
}

/** More hosts than README "Input limits" allows, reported at the first host past the limit. */
function hostCountProblem(source: Source): Diagnostic | undefined {
  const names = Object.keys(obj(obj(source.data).hosts));
  const first = names[INPUT_LIMITS.hosts];
  if (first === undefined) return undefined;
  return overLimit('hosts', names.length, INPUT_LIMITS.hosts, locate(source, ['hosts', first], true), 'split the inventory by cluster (README "Input limits")');
}

/** `scheme: http` with a `tls:` block: the certificates would be ignored and traffic sent in clear. */
function schemeTlsProblem(source: Source, c: Raw): Diagnostic | undefined {
  if (c.scheme !== 'http' || c.tls === undefined) return undefined;
  const at = locate(source, ['cluster', 'scheme']);
  return diag('scheme-tls-conflict', 'scheme: http with a tls: block: the certificates would not be used', at, {
    length: at.length,
    hint: 'use scheme: https, or remove the tls: block for a plain-HTTP cluster',
  });
}

/**
 * Jump hosts that lead back to a host already on the way (a → b → a, or a host whose default jump
 * is itself): runbook would never reach them. One diagnostic per loop, at the jump setting that
 * closes it (the host's own ssh.jump, or the inventory-wide ssh.jump it inherits).
 */
function jumpLoopProblems(source: Source, hosts: Record<string, Host>, hostOrder: string[], rawHosts: Raw): Diagnostic[] {
  const out: Diagnostic[] = [];
  const reported = new Set<string>();
  for (const start of hostOrder) {
    const path: string[] = [];
    let cur: string | undefined = start;
    while (cur !== undefined && cur in hosts && !path.includes(cur)) {
      path.push(cur);
      cur = hosts[cur]?.ssh.jump;
    }
    if (cur === undefined || !path.includes(cur)) continue;
    const loop = path.slice(path.indexOf(cur));
    const key = [...loop].sort().join(' ');
    if (reported.has(key)) continue;
    reported.add(key);
    const last = loop[loop.length - 1]!;
    const own = obj(obj(rawHosts[last]).ssh).jump !== undefined;
    const at = locate(source, own ? ['hosts', last, 'ssh', 'jump'] : ['ssh', 'jump']);
    const chain = [...loop, cur].join(' → ');
    out.push(
      diag('jump-loop', `jump hosts form a loop: ${chain}`, at, {
        length: at.length,
        hint:
          loop.length === 1
            ? `set ssh: {jump: none} on ${last}: the jump host itself connects directly`
            : 'one host in the chain must connect directly (ssh: {jump: none})',
      }),
    );
  }
  return out;
}

/** Variables named like runbook's built-ins (cluster, member, run, …) would be silently ignored: refused. */
function reservedNameProblems(source: Source, inventoryVars: Raw, rawGroups: Raw, rawHosts: Raw): Diagnostic[] {
  const out: Diagnostic[] = [];
  const reserved = (vars: Raw, path: (string | number)[]): void => {
    for (const k of Object.keys(vars)) {
      if (!isBuiltinName(k)) continue;
      const at = locate(source, [...path, k], true);
      out.push(diag('reserved-name', builtinNameMessage(k, 'as an inventory variable'), at, { length: k.length, hint: BUILTIN_HINT }));
    }
  };
  reserved(inventoryVars, ['vars']);
  for (const g of Object.keys(rawGroups)) reserved(obj(obj(rawGroups[g]).vars), ['groups', g, 'vars']);
  for (const h of Object.keys(rawHosts)) reserved(obj(obj(rawHosts[h]).vars), ['hosts', h, 'vars']);
  return out;
}

/** Duplicates a schema cannot see (addresses with port, member names and URLs), and unknown jump hosts. */
function duplicateProblems(source: Source, hosts: Record<string, Host>, hostOrder: string[], rawHosts: Raw): Diagnostic[] {
  const out: Diagnostic[] = [];
  const seen = new Map<string, string>();
  const dup = (kind: 'duplicate-address' | 'duplicate-member', key: string, host: string, path: (string | number)[], what: string): void => {
    const other = seen.get(`${kind}:${key}`);
    if (other) {
      const at = locate(source, path);
      out.push(
        diag(kind, `${what} "${key}" is used by both "${other}" and "${host}"`, at, {
          length: at.length,
          hint: 'each host needs its own address and each member its own name and URLs',
        }),
      );
    } else seen.set(`${kind}:${key}`, host);
  };
  for (const name of hostOrder) {
    const h = hosts[name]!;
    dup('duplicate-address', `${h.address}:${h.ssh.port}`, name, ['hosts', name, 'address'], 'address');
    if (h.etcd) {
      const hasOwn = (k: string): boolean => obj(obj(rawHosts[name]).etcd)[k] !== undefined;
      dup('duplicate-member', h.etcd.name, name, hasOwn('name') ? ['hosts', name, 'etcd', 'name'] : ['hosts', name], 'member name');
      dup('duplicate-member', h.etcd.peerUrl, name, hasOwn('peer_url') ? ['hosts', name, 'etcd', 'peer_url'] : ['hosts', name, 'address'], 'peer URL');
      dup('duplicate-member', h.etcd.clientUrl, name, hasOwn('client_url') ? ['hosts', name, 'etcd', 'client_url'] : ['hosts', name, 'address'], 'client URL');
    }
    const jump = h.ssh.jump;
    if (jump && /^[a-z0-9][a-z0-9._-]*$/.test(jump) && !(jump in hosts) && !jump.includes('.')) {
      const at = locate(source, ['hosts', name, 'ssh', 'jump']);
      out.push(diag('unknown-host', `jump host "${jump}" is not in hosts`, at, { length: at.length }));
    }
  }
  return out;
}

/**
 * Read an inventory: a runbook inventory, or an Ansible/kubespray one (INI or YAML, with group_vars/,
 * host_vars/ and runbook-cluster.yml beside it), which is converted to the runbook document first
 * (inventory/ansible.ts) and then checked exactly like one; its problems are reported at the line of
 * the Ansible file the value came from.
 */
export function loadInventory(path: string, displayPath = path): InventoryResult {
  const read = readInputText(path, displayPath);
  if (read.diagnostics) return { diagnostics: read.diagnostics };
  const kind = inventoryKind(displayPath, read.text);
  if (kind.kind === 'runbook') {
    if (!kind.source) return { diagnostics: kind.diagnostics ?? [] };
    return resolveInventory(kind.source, path, displayPath);
  }
  const converted = convertAnsible({ path, displayPath, kind: kind.kind, text: read.text, ...(kind.source ? { source: kind.source } : {}) });
  if (converted.diagnostics.length) return { diagnostics: converted.diagnostics, converted };
  const r = loadConverted(converted, path, displayPath);
  if (r.inventory) r.inventory.sha256 = sha256(read.text);
  return { ...r, converted };
}

/** A converted Ansible inventory, checked like a runbook one; diagnostics and host positions mapped back to the Ansible files. */
export function loadConverted(converted: Converted, path: string, displayPath: string): InventoryResult {
  const parsed = parseYaml(displayPath, toYaml(converted.doc));
  if (!parsed.source) return { diagnostics: parsed.diagnostics };
  const src = parsed.source;
  // Each generated line → the position of the value it came from (every value is on a line of its own).
  const lineOrigin = new Map<number, At>();
  const fallback: At = { file: displayPath, line: 1, col: 1, length: 1 };
  for (const [k, at] of converted.origins) {
    const p = k.split('\u0000').map((seg) => (/^[0-9]+$/.test(seg) ? Number(seg) : seg));
    // A key's line; a scalar's own line wins over it (a mapping's value starts at its first key: not its own line).
    const keyLine = locate(src, p, true).line;
    if (!lineOrigin.has(keyLine)) lineOrigin.set(keyLine, at);
    let v: Json | undefined = converted.doc;
    for (const seg of p) v = v !== null && typeof v === 'object' ? (v as Record<string, Json>)[seg] : undefined;
    if (v === null || typeof v !== 'object') lineOrigin.set(locate(src, p).line, at);
  }
  const back = (d: Diagnostic): Diagnostic => {
    const o = lineOrigin.get(d.line) ?? fallback;
    return { ...d, file: o.file, line: o.line, col: o.col, length: o.length };
  };
  const r = resolveInventory(src, path, displayPath);
  if (!r.inventory) return { diagnostics: r.diagnostics.map(back) };
  for (const h of Object.values(r.inventory.hosts)) {
    const o = converted.origins.get(['hosts', h.name].join('\u0000'));
    if (o) h.src = { file: o.file, line: o.line, col: o.col };
  }
  return { inventory: r.inventory, diagnostics: [] };
}

function toYaml(doc: Json): string {
  return new YamlDocument(doc).toString({ lineWidth: 0 });
}

/** Groups: lists in inventory order; hosts named in a group must exist (each one that does not is reported in `out`). */
function resolveGroups(source: Source, rawGroups: Raw, rawHosts: Raw, out: Diagnostic[]): Record<string, string[]> {
  const groups: Record<string, string[]> = {};
  for (const g of Object.keys(rawGroups).sort()) {
    const list = (obj(rawGroups[g]).hosts as string[] | undefined) ?? [];
    list.forEach((h, i) => {
      if (!(h in rawHosts)) {
        const at = locate(source, ['groups', g, 'hosts', i]);
        out.push(
          diag('unknown-host', `group "${g}" lists "${h}", which is not in hosts`, at, {
            length: at.length,
            hint: `define it under hosts: or remove it from the group`,
          }),
        );
      }
    });
    groups[g] = list.filter((h) => h in rawHosts);
  }
  return groups;
}

/** Where each secret comes from (env or a file relative to the inventory), by name. */
function secretSources(base: string, root: Raw): Inventory['secretSources'] {
  return Object.fromEntries(
    Object.keys(obj(root.secrets))
      .sort()
      .map((k) => {
        const src = obj(obj(root.secrets)[k]);
        return [
          k,
          { ...(typeof src.env === 'string' ? { env: src.env } : {}), ...(typeof src.file === 'string' ? { file: resolvePath(base, src.file) } : {}) },
        ];
      }),
  );
}

function resolveInventory(source: Source, path: string, displayPath: string): InventoryResult {
  const tooMany = hostCountProblem(source);
  if (tooMany) return { source, diagnostics: [tooMany] };
  const schemaErrors = schemaDiagnostics(source, 'inventory');
  if (schemaErrors.length) return { source, diagnostics: schemaErrors };
  const out: Diagnostic[] = [];
  const base = dirname(resolve(path));
  const root = obj(source.data);
  const conflict = schemeTlsProblem(source, obj(root.cluster));
  if (conflict) out.push(conflict);
  out.push(...remoteBackupProblems(source, root));
  const cluster = clusterSettings(base, obj(root.cluster));
  const rawHosts = obj(root.hosts);
  const rawGroups = obj(root.groups);
  const sshDefaults = obj(root.ssh);

  const groups = resolveGroups(source, rawGroups, rawHosts, out);
  const hostOrder = Object.keys(rawHosts).sort(naturalCompare);
  groups.all = hostOrder;

  // Group membership as sets: scanning each group's list per host was quadratic on a large inventory.
  const groupSets = Object.keys(groups)
    .filter((g) => g !== 'all')
    .map((g) => [g, new Set(groups[g])] as const);
  const inventoryVars = obj(root.vars) as JsonObject;
  out.push(...reservedNameProblems(source, inventoryVars, rawGroups, rawHosts));
  const hosts: Record<string, Host> = {};
  for (const name of hostOrder) {
    const h = obj(rawHosts[name]);
    const memberOf = groupSets
      .filter(([, set]) => set.has(name))
      .map(([g]) => g)
      .sort();
    const vars: JsonObject = {};
    const varSources: Record<string, string> = {};
    const apply = (from: Raw, label: string): void => {
      for (const [k, v] of Object.entries(from)) {
        if (v === undefined) continue;
        vars[k] = v;
        varSources[k] = label;
      }
    };
    apply(inventoryVars, 'inventory vars');
    for (const g of memberOf) apply(obj(obj(rawGroups[g]).vars), `group ${g}`);
    apply(obj(h.vars), `host ${name}`);
    const address = jsonText(h.address);
    const host: Host = {
      name,
      address,
      ssh: sshSettings(base, sshDefaults, obj(h.ssh)),
      groups: memberOf,
      vars,
      varSources,
      src: locate(source, ['hosts', name], true),
    };
    if (memberOf.includes('etcd')) {
      const e = obj(h.etcd);
      const member: EtcdMember = {
        name: typeof e.name === 'string' ? e.name : name,
        peerUrl: typeof e.peer_url === 'string' ? e.peer_url : hostUrl(cluster.scheme, address, cluster.peerPort),
        clientUrl: typeof e.client_url === 'string' ? e.client_url : hostUrl(cluster.scheme, address, cluster.clientPort),
        dataDir: typeof e.data_dir === 'string' ? e.data_dir : cluster.dataDir,
      };
      host.etcd = member;
    }
    const tls = resolveHostTls(cluster, host, h.tls === undefined ? undefined : obj(h.tls));
    if (tls) host.tls = tls;
    hosts[name] = host;
  }

  out.push(...addressProblems(source, rawHosts));
  out.push(...duplicateProblems(source, hosts, hostOrder, rawHosts));
  out.push(...jumpLoopProblems(source, hosts, hostOrder, rawHosts));
  for (const d of cluster.dependents) {
    if (!(d.group in groups)) {
      const i = cluster.dependents.indexOf(d);
      const at = locate(source, ['cluster', 'dependents', i, 'group']);
      out.push(diag('unknown-group', `dependents name group "${d.group}", which is not defined`, at, { length: at.length }));
    }
  }
  if ((groups.etcd ?? []).length === 0) {
    const at = locate(source, ['groups', 'etcd']);
    out.push(diag('no-hosts', 'the etcd group has no hosts', at, { length: at.length }));
  }
  if (out.length) return { source, diagnostics: out };

  const members = (groups.etcd ?? []).map((n) => hosts[n]?.etcd).filter((m): m is EtcdMember => m !== undefined);
  const inventory: Inventory = {
    file: displayPath,
    sha256: source.sha256,
    cluster,
    hostOrder,
    hosts,
    groups,
    vars: inventoryVars,
    secretVars: Object.keys(obj(root.secrets)).sort(),
    secretSources: secretSources(base, root),
    facts: deriveFacts(cluster, members),
  };
  return { inventory, source, diagnostics: [] };
}
