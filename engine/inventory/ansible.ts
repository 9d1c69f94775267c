// An Ansible (or kubespray) inventory → the equivalent runbook inventory document, with the
// position every value came from. Ansible knows hosts, groups and how to connect; runbook also
// needs cluster settings Ansible has no words for (the etcd version, the cluster name, dependents):
// those come from kubespray's own variables where it has them (mapping in README "Ansible and
// kubespray inventories") and from a small runbook cluster file beside the inventory,
// `runbook-cluster.yml` (cluster:, ssh:, vars:, secrets:, and per-host hosts: overrides), which wins.
import { existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { Document } from 'yaml';
import { diag, type Diagnostic } from '../model/diagnostics.js';
import type { Json, JsonObject } from '../model/types.js';
import { locate, readYaml, type Source } from '../load/source.js';
import { parseAnsibleIni, parseAnsibleYaml, readVarDirs, type AnsibleInventory, type AnsibleVar, type At, type InventoryKind } from './ansible-parse.js';

export const CLUSTER_FILE = 'runbook-cluster.yml';

/** Groups whose presence marks a kubespray inventory (old and new names). */
const KUBESPRAY_GROUPS = ['kube_control_plane', 'kube-master', 'kube_master', 'k8s_cluster', 'k8s-cluster', 'kube_node', 'kube-node'];

export interface Converted {
  /** The runbook inventory document (what `runbook inventory import` writes). */
  doc: JsonObject;
  /** Where each value came from: JSON path (segments joined by \0) → position in the Ansible files. */
  origins: Map<string, At>;
  /** Files read, the inventory first (display paths). */
  files: string[];
  flavor: 'kubespray' | 'ansible';
  diagnostics: Diagnostic[];
}

const key = (path: (string | number)[]): string => path.join('\u0000');

function obj(v: Json | undefined): JsonObject | undefined {
  return v && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
}

/** Ansible's `groups[name]`: the group's own hosts, then its children's, depth first, each once. */
function groupHosts(inv: AnsibleInventory, name: string, seen = new Set<string>()): string[] {
  if (seen.has(name)) return [];
  seen.add(name);
  const g = inv.groups.get(name);
  if (!g) return [];
  const out: string[] = [...g.hosts];
  for (const c of g.children) for (const h of groupHosts(inv, c, seen)) if (!out.includes(h)) out.push(h);
  return out;
}

/** Depth of each group below `all` (Ansible sorts group variables by depth, then name). */
function groupDepths(inv: AnsibleInventory): Map<string, number> {
  const depth = new Map<string, number>([['all', 0]]);
  const parents = new Map<string, string[]>();
  for (const g of inv.groups.values()) for (const c of g.children) parents.set(c, [...(parents.get(c) ?? []), g.name]);
  const d = (name: string, stack: string[]): number => {
    if (depth.has(name)) return depth.get(name)!;
    if (stack.includes(name)) return 1;
    const ps = (parents.get(name) ?? []).filter((p) => p !== 'all');
    const v = ps.length === 0 ? 1 : 1 + Math.max(...ps.map((p) => d(p, [...stack, name])));
    depth.set(name, v);
    return v;
  };
  for (const g of inv.groups.keys()) d(g, []);
  return depth;
}

/**
 * A host's variables in Ansible's inventory precedence, lowest first: the inventory file's group
 * vars (all, then by depth and name), group_vars/all, group_vars/<group> (by depth and name), the
 * file's host vars, host_vars/<host>.
 */
function hostVars(inv: AnsibleInventory, name: string, memberOf: string[], depths: Map<string, number>): Record<string, AnsibleVar> {
  const order = ['all', ...memberOf.filter((g) => g !== 'all').sort((a, b) => (depths.get(a) ?? 1) - (depths.get(b) ?? 1) || (a < b ? -1 : a > b ? 1 : 0))];
  const out: Record<string, AnsibleVar> = {};
  for (const g of order) Object.assign(out, inv.groups.get(g)?.vars ?? {});
  for (const g of order) Object.assign(out, inv.groupVarsDir.get(g) ?? {});
  Object.assign(out, inv.hosts.get(name)?.vars ?? {});
  Object.assign(out, inv.hostVarsDir.get(name) ?? {});
  return out;
}

/** Plain `{{ name }}` references to other variables are filled in; anything else Jinja is left to the caller to refuse. */
function resolveVar(
  vars: Record<string, AnsibleVar>,
  name: string,
  builtins: Record<string, string>,
  depth = 0,
): { value: Json; at: At } | { error: string; at: At } | undefined {
  const v = vars[name];
  if (!v) return undefined;
  if (typeof v.value !== 'string' || !v.value.includes('{{')) return v;
  if (depth > 8) return { error: `${name} refers to itself through other variables`, at: v.at };
  let failed: string | undefined;
  const text = v.value.replace(/\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g, (_m, ref: string) => {
    if (ref in builtins) return builtins[ref]!;
    const r = resolveVar(vars, ref, builtins, depth + 1);
    if (!r || 'error' in r || (typeof r.value !== 'string' && typeof r.value !== 'number')) {
      failed ??= r && 'error' in r ? r.error : `${ref} is not a plain value in the inventory`;
      return '';
    }
    return String(r.value);
  });
  if (failed) return { error: failed, at: v.at };
  if (text.includes('{{') || text.includes('{%')) return { error: `"${v.value}" is a Jinja expression`, at: v.at };
  return { value: text, at: v.at };
}

export interface ConvertOptions {
  /** The inventory file as read and as shown. */
  path: string;
  displayPath: string;
  kind: Exclude<InventoryKind, 'runbook'>;
  text: string;
  source?: Source;
}

/** Parse an Ansible inventory (INI or YAML) with its var directories and the runbook cluster file, and convert it. */
export function convertAnsible(o: ConvertOptions): Converted {
  const inv = o.kind === 'ansible-ini' ? parseAnsibleIni(o.displayPath, o.text) : parseAnsibleYaml(o.source!);
  const dir = dirname(o.path);
  const display = (p: string): string => join(dirname(o.displayPath), relative(dir, p));
  readVarDirs(inv, dir, display);
  const clusterPath = join(dir, CLUSTER_FILE);
  let clusterSource: Source | undefined;
  if (existsSync(clusterPath)) {
    const r = readYaml(clusterPath, display(clusterPath));
    inv.files.push(display(clusterPath));
    if (r.source) clusterSource = r.source;
    else inv.diagnostics.push(...r.diagnostics);
  }
  return buildDocument(inv, clusterSource);
}

const CLUSTER_FILE_KEYS = ['cluster', 'ssh', 'vars', 'secrets', 'hosts', 'ansible'];

/** What the steps of buildDocument share: the document being built, where each value came from, the problems found. */
interface Build {
  inv: AnsibleInventory;
  clusterSource: Source | undefined;
  doc: JsonObject;
  origins: Map<string, At>;
  diagnostics: Diagnostic[];
  /** The inventory file's own position, for values that have no better one. */
  fileAt: At;
  /** The runbook cluster file's content ({} without one). */
  cf: JsonObject;
  flavor: 'kubespray' | 'ansible';
  groupNames: string[];
  /** The hosts of group etcd, in Ansible's order. */
  members: string[];
  hostOrder: string[];
  /** Set a value in the document and record where it came from. */
  set: (target: JsonObject, path: (string | number)[], value: Json, at: At) => void;
  /** A position in the cluster file (the inventory file without one). */
  cfAt: (path: (string | number)[], k?: boolean) => At;
  /** A mapped variable's first non-empty value for a host, as text. */
  str: (h: string, ...names: string[]) => { value: string; at: At } | undefined;
  /** The same, as a number when it is all digits. */
  num: (h: string, ...names: string[]) => { value: number; at: At } | undefined;
}

function buildDocument(inv: AnsibleInventory, clusterSource: Source | undefined): Converted {
  const b = newBuild(inv, clusterSource);
  const cluster = buildCluster(b);
  for (const k of ['ssh', 'vars', 'secrets'] as const) if (b.cf[k] !== undefined) b.set(b.doc, [k], b.cf[k], b.cfAt([k]));
  buildHosts(b, cluster);
  buildGroups(b);
  return { doc: b.doc, origins: b.origins, files: inv.files, flavor: b.flavor, diagnostics: b.diagnostics };
}

/** The shared state, the cluster file's keys checked, the flavor decided, each host's variables gathered. */
function newBuild(inv: AnsibleInventory, clusterSource: Source | undefined): Build {
  const diagnostics = [...inv.diagnostics];
  const origins = new Map<string, At>();
  const fileAt: At = { file: inv.file, line: 1, col: 1, length: 1 };
  const set = (target: JsonObject, path: (string | number)[], value: Json, at: At): void => {
    let o = target;
    for (const seg of path.slice(0, -1)) {
      const next = obj(o[seg]) ?? {};
      o[seg] = next;
      o = next;
    }
    o[path[path.length - 1]!] = value;
    origins.set(key(path), at);
  };
  const cf = obj(clusterSource?.data) ?? {};
  const cfAt = (path: (string | number)[], k = false): At => (clusterSource ? locate(clusterSource, path, k) : fileAt);
  for (const k of Object.keys(cf)) {
    if (!CLUSTER_FILE_KEYS.includes(k)) {
      diagnostics.push(
        diag('ansible-inventory', `unknown key "${k}" in ${CLUSTER_FILE}`, cfAt([k], true), {
          hint: `${CLUSTER_FILE} holds what Ansible does not know: ${CLUSTER_FILE_KEYS.join(', ')}`,
        }),
      );
    }
  }
  const flavorSetting = obj(cf.ansible)?.flavor;
  const flavor: 'kubespray' | 'ansible' =
    flavorSetting === 'kubespray' || flavorSetting === 'ansible'
      ? flavorSetting
      : KUBESPRAY_GROUPS.some((g) => inv.groups.has(g)) || [...inv.hosts.values()].some((h) => 'etcd_member_name' in h.vars)
        ? 'kubespray'
        : 'ansible';

  const doc: JsonObject = {};
  const depths = groupDepths(inv);
  const groupNames = [...inv.groups.keys()].filter((g) => g !== 'all' && g !== 'ungrouped');
  const members = groupHosts(inv, 'etcd');
  const hostOrder = [...inv.hosts.keys()];
  const memberOf = new Map<string, string[]>(hostOrder.map((h) => [h, groupNames.filter((g) => groupHosts(inv, g).includes(h))]));
  const varsOf = new Map(hostOrder.map((h) => [h, hostVars(inv, h, memberOf.get(h) ?? [], depths)]));

  /** A mapped variable's plain value for a host (Jinja refused with its position). */
  const plain = (h: string, name: string): { value: Json; at: At } | undefined => {
    const r = resolveVar(varsOf.get(h) ?? {}, name, { inventory_hostname: h });
    if (r && 'error' in r) {
      diagnostics.push(
        diag('ansible-inventory', `${name}: ${r.error}; runbook does not evaluate Jinja`, r.at, {
          hint: `set ${name} to a plain value, or set the runbook setting in ${CLUSTER_FILE} (README "Ansible and kubespray inventories")`,
        }),
      );
      return undefined;
    }
    return r;
  };
  const str = (h: string, ...names: string[]): { value: string; at: At } | undefined => {
    for (const n of names) {
      const r = plain(h, n);
      if (r && r.value !== null && r.value !== '') return { value: typeof r.value === 'object' ? JSON.stringify(r.value) : String(r.value), at: r.at };
    }
    return undefined;
  };
  const num = (h: string, ...names: string[]): { value: number; at: At } | undefined => {
    const r = str(h, ...names);
    return r && /^[0-9]+$/.test(r.value) ? { value: Number(r.value), at: r.at } : r ? { value: r.value as unknown as number, at: r.at } : undefined;
  };

  return { inv, clusterSource, doc, origins, diagnostics, fileAt, cf, flavor, groupNames, members, hostOrder, set, cfAt, str, num };
}

/** The cluster section: kubespray's variables (first etcd member's view), then the cluster file. */
function buildCluster(b: Build): JsonObject {
  const { clusterSource, doc, origins, diagnostics, fileAt, cf, flavor, members, hostOrder, set, cfAt, str } = b;
  const first = members[0] ?? hostOrder[0] ?? '';
  const cAt = (path: string[]): At => cfAt(['cluster', ...path]);
  const cluster: JsonObject = {};
  doc.cluster = cluster;
  origins.set(key(['cluster']), clusterSource ? cfAt(['cluster'], true) : fileAt);
  if (flavor === 'kubespray') {
    const name = str(first, 'cluster_name');
    set(doc, ['cluster', 'name'], name?.value ?? 'cluster.local', name?.at ?? fileAt);
    const ver = str(first, 'etcd_version');
    if (ver) set(doc, ['cluster', 'etcd_version'], ver.value.replace(/^v/, ''), ver.at);
    const dt = str(first, 'etcd_deployment_type');
    set(doc, ['cluster', 'deployment'], dt?.value === 'kubeadm' ? 'static-pod' : 'systemd', dt?.at ?? fileAt);
    if (dt?.value !== 'kubeadm') set(doc, ['cluster', 'config_file'], '/etc/etcd.env', dt?.at ?? fileAt);
    set(doc, ['cluster', 'token'], 'k8s_etcd', fileAt);
    const dd = str(first, 'etcd_data_dir');
    set(doc, ['cluster', 'data_dir'], dd?.value ?? '/var/lib/etcd', dd?.at ?? fileAt);
    const certDir = str(first, 'etcd_cert_dir');
    const cd = certDir?.value ?? '/etc/ssl/etcd/ssl';
    const tAt = certDir?.at ?? fileAt;
    set(doc, ['cluster', 'scheme'], 'https', tAt);
    for (const [k, file] of [
      ['ca', 'ca.pem'],
      ['cert', 'admin-{{ inventory_hostname }}.pem'],
      ['key', 'admin-{{ inventory_hostname }}-key.pem'],
      ['server_cert', 'member-{{ inventory_hostname }}.pem'],
      ['server_key', 'member-{{ inventory_hostname }}-key.pem'],
    ] as const)
      set(doc, ['cluster', 'tls', k], `${cd}/${file}`, tAt);
  }
  const cfCluster = obj(cf.cluster) ?? {};
  for (const [k, v] of Object.entries(cfCluster)) {
    if (k === 'tls' && obj(v)) {
      // The cluster file's tls: replaces the derived one as a whole (a partial merge would mix two layouts).
      delete cluster.tls;
      for (const k of [...origins.keys()]) if (k.startsWith(key(['cluster', 'tls', '']))) origins.delete(k);
      for (const [tk, tv] of Object.entries(obj(v)!)) set(doc, ['cluster', 'tls', tk], tv, cAt(['tls', tk]));
      origins.set(key(['cluster', 'tls']), cAt(['tls']));
    } else set(doc, ['cluster', k], v, cAt([k]));
  }
  if (cluster.etcd_version === undefined) {
    diagnostics.push(
      diag('ansible-inventory', `the etcd version is not in this Ansible inventory`, clusterSource ? cfAt(['cluster'], true) : fileAt, {
        hint: `runbook needs it (etcdctl or etcdutl, learners, --bump-revision): add cluster: {etcd_version: "3.5.16"} to ${CLUSTER_FILE} beside the inventory, or etcd_version to group_vars/all`,
      }),
    );
  }
  if (cluster.name === undefined) set(doc, ['cluster', 'name'], 'etcd', fileAt);
  return cluster;
}

/** The hosts section: address and ssh from Ansible's variables, etcd settings (kubespray), the cluster file's overrides. */
function buildHosts(b: Build, cluster: JsonObject): void {
  const { inv, doc, origins, diagnostics, cf, flavor, members, hostOrder, set, cfAt, str, num } = b;
  const hosts: JsonObject = {};
  doc.hosts = hosts;
  const cfHosts = obj(cf.hosts) ?? {};
  for (const h of hostOrder) {
    const ah = inv.hosts.get(h)!;
    const hp = ['hosts', h];
    origins.set(key(hp), ah.at);
    const address = str(h, 'ansible_host', 'ansible_ssh_host');
    set(doc, [...hp, 'address'], address?.value ?? h, address?.at ?? ah.at);
    const user = str(h, 'ansible_user', 'ansible_ssh_user');
    if (user) set(doc, [...hp, 'ssh', 'user'], user.value, user.at);
    const port = ah.port ?? num(h, 'ansible_port', 'ansible_ssh_port');
    if (port) set(doc, [...hp, 'ssh', 'port'], port.value, port.at);
    const idf = str(h, 'ansible_ssh_private_key_file', 'ansible_private_key_file');
    if (idf) set(doc, [...hp, 'ssh', 'identity_file'], idf.value, idf.at);
    const common = str(h, 'ansible_ssh_common_args', 'ansible_ssh_extra_args');
    const jump = common && /(?:-J\s*|-o\s*ProxyJump=)(\S+)/.exec(common.value)?.[1];
    if (common && jump) set(doc, [...hp, 'ssh', 'jump'], jump, common.at);
    const idx = members.indexOf(h);
    if (idx >= 0 && flavor === 'kubespray') {
      // kubespray: etcd_member_name, else "etcd" + the host's 1-based place in group etcd;
      // URLs on etcd_access_address = access_ip | ip | (a gathered fact runbook cannot know: ansible_host).
      const mname = str(h, 'etcd_member_name');
      set(doc, [...hp, 'etcd', 'name'], mname?.value ?? `etcd${idx + 1}`, mname?.at ?? ah.at);
      const ip = str(h, 'etcd_access_address', 'access_ip', 'ip', 'ansible_host', 'ansible_ssh_host');
      const addr = ip?.value ?? h;
      const url = (port: number): string => `https://${addr.includes(':') ? `[${addr}]` : addr}:${port}`;
      const peer = str(h, 'etcd_peer_url');
      const client = str(h, 'etcd_client_url');
      set(doc, [...hp, 'etcd', 'peer_url'], peer?.value ?? url(2380), peer?.at ?? ip?.at ?? ah.at);
      set(doc, [...hp, 'etcd', 'client_url'], client?.value ?? url(2379), client?.at ?? ip?.at ?? ah.at);
      const dd = str(h, 'etcd_data_dir');
      if (dd && dd.value !== cluster.data_dir) set(doc, [...hp, 'etcd', 'data_dir'], dd.value, dd.at);
    }
    const over = obj(cfHosts[h]);
    if (over) {
      for (const [k, v] of Object.entries(over)) {
        const sub = obj(v);
        if (sub && (k === 'etcd' || k === 'ssh' || k === 'tls' || k === 'vars'))
          for (const [sk, sv] of Object.entries(sub)) set(doc, [...hp, k, sk], sv, cfAt(['hosts', h, k, sk]));
        else set(doc, [...hp, k], v, cfAt(['hosts', h, k]));
      }
    }
  }
  for (const h of Object.keys(cfHosts)) {
    if (!inv.hosts.has(h)) {
      diagnostics.push(
        diag('unknown-host', `${CLUSTER_FILE} names host "${h}", which is not in ${inv.file}`, cfAt(['hosts', h], true), {
          hint: 'hosts: in the cluster file only adds settings to hosts of the Ansible inventory',
        }),
      );
    }
  }
}

/** The groups section: flattened (children's hosts included), Ansible's order; group etcd must exist and have hosts. */
function buildGroups(b: Build): void {
  const { inv, doc, origins, diagnostics, fileAt, groupNames, members, set } = b;
  const groups: JsonObject = {};
  doc.groups = groups;
  origins.set(key(['groups']), fileAt);
  for (const g of groupNames) {
    const ag = inv.groups.get(g)!;
    origins.set(key(['groups', g]), ag.at);
    const list = groupHosts(inv, g);
    set(doc, ['groups', g, 'hosts'], list, ag.at);
    list.forEach((h, i) => origins.set(key(['groups', g, 'hosts', i]), inv.hosts.get(h)?.at ?? ag.at));
  }
  if (inv.groups.has('etcd') && members.length === 0) {
    diagnostics.push(
      diag('no-hosts', `group "etcd" of this Ansible inventory has no hosts (are they commented out?)`, inv.groups.get('etcd')!.at, {
        hint: 'list the etcd members under [etcd] (INI) or etcd: {hosts: {node1:}} (YAML)',
      }),
    );
  }
  if (!inv.groups.has('etcd')) {
    diagnostics.push(
      diag('ansible-inventory', `this Ansible inventory has no group "etcd"`, fileAt, {
        hint: 'runbook acts on the members of group etcd (kubespray names it so): add [etcd] with the members, or [etcd:children] kube_control_plane',
      }),
    );
  }
}

/** The converted inventory as runbook YAML, with a header saying where it came from. */
export function convertedYaml(c: Converted, from: string): string {
  const d = new Document(c.doc);
  d.commentBefore =
    ` runbook inventory converted from ${from} (${c.flavor === 'kubespray' ? 'kubespray' : 'Ansible'}) by \`runbook inventory import\`\n` +
    ` files read: ${c.files.join(', ')}`;
  return d.toString({ lineWidth: 0 });
}
