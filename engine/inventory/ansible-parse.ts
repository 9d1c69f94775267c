// Ansible inventories as Ansible reads them: INI (`[group]`, `[group:vars]`, `[group:children]`,
// `host key=value`) and YAML (`all:` / `hosts:` / `children:` / `vars:`), plus the group_vars/ and
// host_vars/ directories beside the file. Every value keeps the file:line:col it came from, so a
// problem found after conversion is reported where the user wrote it (README "Ansible and kubespray
// inventories"). Only the inventory is read: nothing is evaluated (no Jinja, no plugins, no scripts).
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { isMap, isScalar, isSeq, type Node as YNode } from 'yaml';
import { diag, type Diagnostic } from '../model/diagnostics.js';
import type { Json, SourceRef } from '../model/types.js';
import { locate, parseYaml, readYaml, type Source } from '../load/source.js';

export type At = SourceRef & { length: number };

export interface AnsibleVar {
  value: Json;
  at: At;
}

export interface AnsibleGroup {
  name: string;
  /** Hosts named directly in the group, in file order. */
  hosts: string[];
  children: string[];
  vars: Record<string, AnsibleVar>;
  at: At;
}

export interface AnsibleHost {
  name: string;
  /** `host:2222` in the INI form, or the port of a YAML host key. */
  port?: AnsibleVar;
  vars: Record<string, AnsibleVar>;
  at: At;
}

export interface AnsibleInventory {
  file: string;
  format: 'ini' | 'yaml';
  groups: Map<string, AnsibleGroup>;
  hosts: Map<string, AnsibleHost>;
  /** Variables from group_vars/ (by group) and host_vars/ (by host): above the file's own in Ansible's precedence. */
  groupVarsDir: Map<string, Record<string, AnsibleVar>>;
  hostVarsDir: Map<string, Record<string, AnsibleVar>>;
  /** Every file read (the inventory first), for hashes and excerpts. */
  files: string[];
  diagnostics: Diagnostic[];
}

const HINT_CONVERT = 'an Ansible inventory: see README "Ansible and kubespray inventories", or convert it with `runbook inventory import -i FILE`';

function newInventory(file: string, format: 'ini' | 'yaml'): AnsibleInventory {
  return { file, format, groups: new Map(), hosts: new Map(), groupVarsDir: new Map(), hostVarsDir: new Map(), files: [file], diagnostics: [] };
}

function group(inv: AnsibleInventory, name: string, at: At): AnsibleGroup {
  let g = inv.groups.get(name);
  if (!g) {
    g = { name, hosts: [], children: [], vars: {}, at };
    inv.groups.set(name, g);
  }
  return g;
}

function host(inv: AnsibleInventory, name: string, at: At): AnsibleHost {
  let h = inv.hosts.get(name);
  if (!h) {
    h = { name, vars: {}, at };
    inv.hosts.set(name, h);
  }
  return h;
}

/** Ansible's host ranges: `node[1:3]`, `node[01:10]`, `node[a:c]`, `node[1:10:2]` (one range per pattern is the common case; several expand left to right). */
export function expandHostPattern(pattern: string): string[] | undefined {
  const m = /^(.*?)\[([0-9a-z]+):([0-9a-z]+)(?::([0-9]+))?\](.*)$/.exec(pattern);
  if (!m) return [pattern];
  const [, head = '', from = '', to = '', step = '1', tail = ''] = m;
  const inc = Number(step);
  if (!(inc > 0)) return undefined;
  const out: string[] = [];
  if (/^[0-9]+$/.test(from) && /^[0-9]+$/.test(to)) {
    const width = from.startsWith('0') ? from.length : 0;
    if (Number(to) - Number(from) > 10_000) return undefined;
    for (let i = Number(from); i <= Number(to); i += inc) out.push(`${head}${String(i).padStart(width, '0')}`);
  } else if (/^[a-z]$/.test(from) && /^[a-z]$/.test(to)) {
    for (let c = from.charCodeAt(0); c <= to.charCodeAt(0); c += inc) out.push(`${head}${String.fromCharCode(c)}`);
  } else return undefined;
  const rest = expandHostPattern(tail);
  if (!rest) return undefined;
  return out.flatMap((h) => rest.map((t) => `${h}${t}`));
}

/** An INI value as Ansible's ini plugin reads it: Python literals (numbers, True/False, quoted strings), else the text. */
function iniValue(text: string): Json {
  if (/^-?[0-9]+$/.test(text)) return Number(text);
  if (text === 'True' || text === 'true') return true;
  if (text === 'False' || text === 'false') return false;
  const q = /^(['"])(.*)\1$/.exec(text);
  return q ? (q[2] ?? '') : text;
}

interface Token {
  text: string;
  /** Offset of the token (and of the value after `=`) in the line. */
  start: number;
  valueStart: number;
}

/** shlex-like split of a host line (quotes group, `#` after whitespace starts a comment), keeping each token's column. */
function splitHostLine(line: string): Token[] | string {
  const out: Token[] = [];
  let i = 0;
  while (i < line.length) {
    while (i < line.length && /\s/.test(line[i]!)) i++;
    if (i >= line.length || line[i] === '#') break;
    const start = i;
    let text = '';
    let valueStart = -1;
    while (i < line.length && !/\s/.test(line[i]!)) {
      const ch = line[i]!;
      if (ch === '=' && valueStart < 0) {
        text += ch;
        valueStart = i + 1;
        i++;
      } else if (ch === '"' || ch === "'") {
        const close = line.indexOf(ch, i + 1);
        if (close < 0) return `unclosed ${ch} quote`;
        text += line.slice(i + 1, close);
        i = close + 1;
      } else {
        text += ch;
        i++;
      }
    }
    out.push({ text, start, valueStart: valueStart < 0 ? start : valueStart });
  }
  return out;
}

/** Parse the INI form. */
export function parseAnsibleIni(file: string, text: string): AnsibleInventory {
  const inv = newInventory(file, 'ini');
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  let section: { group: string; kind: 'hosts' | 'vars' | 'children' } = { group: 'ungrouped', kind: 'hosts' };
  const at = (line: number, col: number, length = 1): At => ({ file, line, col, length: Math.max(1, length) });
  lines.forEach((raw, i) => {
    const lineNo = i + 1;
    const line = raw.trimEnd();
    const indent = line.length - line.trimStart().length;
    const body = line.trim();
    if (body === '' || body.startsWith('#') || body.startsWith(';')) return;
    const sec = /^\[([^\]]+)\]\s*$/.exec(body);
    if (sec) {
      const [name = '', kind = 'hosts'] = (sec[1] ?? '').split(':');
      if (kind !== 'hosts' && kind !== 'vars' && kind !== 'children') {
        inv.diagnostics.push(
          diag('ansible-inventory', `unknown section kind ":${kind}" in an Ansible INI inventory`, at(lineNo, indent + 1, body.length), {
            hint: '[group], [group:vars] or [group:children]',
          }),
        );
        section = { group: name, kind: 'hosts' };
        return;
      }
      section = { group: name, kind };
      group(inv, name, at(lineNo, indent + 2, name.length));
      return;
    }
    if (section.kind === 'children') {
      const child = body;
      group(inv, child, at(lineNo, indent + 1, child.length));
      const g = group(inv, section.group, at(lineNo, indent + 1));
      if (!g.children.includes(child)) g.children.push(child);
      return;
    }
    if (section.kind === 'vars') {
      const eq = body.indexOf('=');
      if (eq <= 0) {
        inv.diagnostics.push(
          diag('ansible-inventory', `expected key=value in [${section.group}:vars]`, at(lineNo, indent + 1, body.length), { hint: HINT_CONVERT }),
        );
        return;
      }
      const key = body.slice(0, eq).trim();
      const valueText = body.slice(eq + 1).trim();
      const col = line.indexOf(valueText, indent + eq + 1) + 1;
      group(inv, section.group, at(lineNo, indent + 1)).vars[key] = {
        value: iniValue(valueText),
        at: at(lineNo, col > 0 ? col : indent + 1, valueText.length),
      };
      return;
    }
    const tokens = splitHostLine(line);
    if (typeof tokens === 'string') {
      inv.diagnostics.push(diag('ansible-inventory', `cannot read this host line: ${tokens}`, at(lineNo, indent + 1, body.length), { hint: HINT_CONVERT }));
      return;
    }
    const [first, ...rest] = tokens;
    if (!first) return;
    // host:port (not an IPv6 address, which has more than one colon).
    const pm = /^([^:]+):([0-9]+)$/.exec(first.text);
    const pattern = pm ? (pm[1] ?? '') : first.text;
    const names = expandHostPattern(pattern);
    const hostAt = at(lineNo, first.start + 1, pattern.length);
    if (!names) {
      inv.diagnostics.push(
        diag('ansible-inventory', `cannot expand the host range "${pattern}"`, hostAt, { hint: 'ranges look like node[1:3] or node[01:10]' }),
      );
      return;
    }
    const g = group(inv, section.group, at(lineNo, indent + 1));
    for (const name of names) {
      const h = host(inv, name, hostAt);
      if (!g.hosts.includes(name)) g.hosts.push(name);
      if (pm) h.port = { value: Number(pm[2]), at: at(lineNo, first.start + pattern.length + 2, (pm[2] ?? '').length) };
      for (const t of rest) {
        const eq = t.text.indexOf('=');
        if (eq <= 0) {
          inv.diagnostics.push(
            diag('ansible-inventory', `expected key=value after the host name, found "${t.text}"`, at(lineNo, t.start + 1, t.text.length), {
              hint: 'host lines are `name key=value key=value`; quote values with spaces',
            }),
          );
          continue;
        }
        const valueText = t.text.slice(eq + 1);
        h.vars[t.text.slice(0, eq)] = {
          value: iniValue(valueText),
          at: at(lineNo, t.valueStart + 1, Math.max(1, line.indexOf(' ', t.valueStart) - t.valueStart)),
        };
      }
    }
  });
  return inv;
}

function asAt(src: Source, path: (string | number)[], key = false): At {
  return locate(src, path, key);
}

function obj(v: Json | undefined): Record<string, Json> | undefined {
  return v && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
}

/** Variables of a YAML mapping, each with its position. */
function yamlVars(src: Source, path: (string | number)[], value: Json | undefined, out: Record<string, AnsibleVar>): void {
  const m = obj(value);
  if (!m) return;
  for (const [k, v] of Object.entries(m)) out[k] = { value: v, at: asAt(src, [...path, k]) };
}

/** The YAML node at path (for telling a folded scalar from a mapping). */
function nodeAt(src: Source, path: (string | number)[]): YNode | undefined {
  let node: unknown = src.doc.contents;
  for (const seg of path) {
    if (isMap(node)) node = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg))?.value;
    else if (isSeq(node) && typeof seg === 'number') node = node.items[seg];
    else return undefined;
  }
  return (node ?? undefined) as YNode | undefined;
}

/** Parse the YAML form (already read as a Source). */
export function parseAnsibleYaml(src: Source): AnsibleInventory {
  const inv = newInventory(src.file, 'yaml');
  const top = obj(src.data) ?? {};
  const visit = (name: string, def: Json | undefined, path: (string | number)[], parent: AnsibleGroup | undefined): void => {
    const g = group(inv, name, asAt(src, path, true));
    if (parent && !parent.children.includes(name)) parent.children.push(name);
    if (def === null || def === undefined) return;
    const d = obj(def);
    if (!d) {
      inv.diagnostics.push(
        diag('ansible-inventory', `group "${name}" must be a mapping with hosts:, children: or vars:`, asAt(src, path), { hint: HINT_CONVERT }),
      );
      return;
    }
    for (const k of Object.keys(d)) {
      if (k !== 'hosts' && k !== 'children' && k !== 'vars') {
        inv.diagnostics.push(
          diag('ansible-inventory', `unknown key "${k}" in group "${name}": an Ansible group has hosts:, children: and vars:`, asAt(src, [...path, k], true), {
            hint: 'a key like this one usually means a missing "hosts:" or "children:" level above it',
          }),
        );
      }
    }
    if (typeof d.hosts === 'string') {
      // `hosts:` followed by indented names without colons: YAML folds them into one string.
      const scalar = nodeAt(src, [...path, 'hosts']);
      const folded = isScalar(scalar) && /\s/.test(d.hosts.trim());
      inv.diagnostics.push(
        diag(
          'ansible-inventory',
          folded
            ? `hosts of group "${name}" is the one string "${d.hosts.trim()}": YAML folds indented lines without a colon into one value (Ansible makes one host of that name)`
            : `hosts of group "${name}" is a string, not a mapping of host names`,
          asAt(src, [...path, 'hosts']),
          { hint: 'write each host as a key ending in a colon, one per line (node1:)' },
        ),
      );
    } else if (d.hosts !== null && d.hosts !== undefined) {
      const hosts = obj(d.hosts);
      if (!hosts) {
        inv.diagnostics.push(
          diag('ansible-inventory', `hosts of group "${name}" must be a mapping of host names`, asAt(src, [...path, 'hosts']), {
            hint: 'write each host as a key ending in a colon (node1:), with its variables below it',
          }),
        );
      } else {
        for (const [pattern, vars] of Object.entries(hosts)) {
          const hp = [...path, 'hosts', pattern];
          const pm = /^([^:]+):([0-9]+)$/.exec(pattern);
          const names = expandHostPattern(pm ? (pm[1] ?? '') : pattern);
          if (!names) {
            inv.diagnostics.push(diag('ansible-inventory', `cannot expand the host range "${pattern}"`, asAt(src, hp, true)));
            continue;
          }
          for (const n of names) {
            const h = host(inv, n, asAt(src, hp, true));
            if (!g.hosts.includes(n)) g.hosts.push(n);
            if (pm) h.port = { value: Number(pm[2]), at: asAt(src, hp, true) };
            if (vars !== null && !obj(vars)) {
              inv.diagnostics.push(diag('ansible-inventory', `the variables of host "${n}" must be a mapping`, asAt(src, hp)));
              continue;
            }
            yamlVars(src, hp, vars, h.vars);
          }
        }
      }
    }
    yamlVars(src, [...path, 'vars'], d.vars, g.vars);
    const children = d.children;
    if (children !== null && children !== undefined) {
      const c = obj(children);
      if (!c) {
        inv.diagnostics.push(diag('ansible-inventory', `children of group "${name}" must be a mapping of group names`, asAt(src, [...path, 'children'])));
        return;
      }
      for (const [child, cdef] of Object.entries(c)) visit(child, cdef, [...path, 'children', child], g);
    }
  };
  for (const [name, def] of Object.entries(top)) visit(name, def, [name], undefined);
  return inv;
}

/** Files of group_vars/NAME or host_vars/NAME: the file itself (NAME, NAME.yml, .yaml, .json) or every such file below the directory NAME. */
function varFiles(dir: string, name: string): string[] {
  const out: string[] = [];
  for (const ext of ['', '.yml', '.yaml', '.json']) {
    const p = join(dir, `${name}${ext}`);
    if (!existsSync(p)) continue;
    const st = statSync(p);
    if (st.isFile()) out.push(p);
    else if (st.isDirectory() && ext === '') {
      const walk = (d: string): void => {
        for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
          if (e.name.startsWith('.')) continue;
          const full = join(d, e.name);
          if (e.isDirectory()) walk(full);
          else if (/\.(ya?ml|json)$/.test(e.name)) out.push(full);
        }
      };
      walk(p);
    }
  }
  return out;
}

/** Read group_vars/ and host_vars/ beside the inventory (Ansible's "inventory group_vars/*" and "host_vars/*"). */
export function readVarDirs(inv: AnsibleInventory, dir: string, display: (p: string) => string): void {
  const read = (kind: 'group_vars' | 'host_vars', name: string): Record<string, AnsibleVar> | undefined => {
    const files = varFiles(join(dir, kind), name);
    if (files.length === 0) return undefined;
    const vars: Record<string, AnsibleVar> = {};
    for (const f of files) {
      const r = readYaml(f, display(f));
      inv.files.push(display(f));
      if (!r.source) {
        // An empty vars file (only comments, as kubespray's samples ship many) is no error in Ansible.
        inv.diagnostics.push(...r.diagnostics.filter((d) => d.code !== 'empty-file'));
        continue;
      }
      if (!obj(r.source.data)) {
        inv.diagnostics.push(diag('ansible-inventory', `${basename(f)} must be a mapping of variables`, asAt(r.source, [])));
        continue;
      }
      yamlVars(r.source, [], r.source.data, vars);
    }
    return vars;
  };
  const groups = new Set(['all', ...inv.groups.keys()]);
  for (const g of groups) {
    const v = read('group_vars', g);
    if (v) inv.groupVarsDir.set(g, v);
  }
  for (const h of inv.hosts.keys()) {
    const v = read('host_vars', h);
    if (v) inv.hostVarsDir.set(h, v);
  }
}

export type InventoryKind = 'runbook' | 'ansible-ini' | 'ansible-yaml';

/**
 * What a file is: a runbook inventory (a mapping with cluster:, hosts: or groups:), an Ansible
 * YAML inventory (top-level groups, usually all:, each with hosts:/children:/vars:), or an Ansible
 * INI inventory (section headers, `host key=value` lines). Decided from the text, never from the name alone.
 */
export function inventoryKind(file: string, text: string): { kind: InventoryKind; source?: Source; diagnostics?: Diagnostic[] } {
  const firstLine = text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .find((l) => l !== '' && !l.startsWith('#') && !l.startsWith(';'));
  if (firstLine !== undefined && /^\[[^\]]+\]$/.test(firstLine)) return { kind: 'ansible-ini' };
  const r = parseYaml(file, text);
  if (!r.source) {
    // Not YAML: an INI file whose first line is a host (`node1 ansible_host=…`) reads as an Ansible inventory.
    if (firstLine !== undefined && /^[^\s=:]+(\s+[A-Za-z_][A-Za-z0-9_]*=\S*)+\s*(#.*)?$/.test(firstLine)) return { kind: 'ansible-ini' };
    return { kind: 'runbook', diagnostics: r.diagnostics };
  }
  const top = obj(r.source.data);
  if (top && !('cluster' in top) && !('groups' in top) && !('hosts' in top)) {
    const groupish = Object.values(top).every(
      (v) => v === null || (obj(v) !== undefined && Object.keys(obj(v)!).some((k) => ['hosts', 'children', 'vars'].includes(k))),
    );
    if (groupish && Object.keys(top).length > 0) return { kind: 'ansible-yaml', source: r.source };
  }
  if (r.source && typeof r.source.data === 'string' && /\w+=/.test(r.source.data)) return { kind: 'ansible-ini' };
  return { kind: 'runbook', source: r.source };
}
