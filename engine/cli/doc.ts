// `runbook doc MODULE` (after ansible-doc): a module's arguments, generated from its JSON schema,
// its ops, and what `register` stores. The registered shapes are written down here, one entry per
// module or op; test/unit/cli-doc.test.ts fails when an op of a module has none.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MODULES } from '../modules/registry.js';
import { PACKAGE_ROOT } from '../package/root.js';
import { stableStringify } from '../report/stable-json.js';
import { EXIT, type Io } from '../model/io.js';

export const DOC_FORMAT = 'runbook-doc/1';

/** A command's result: what shell/command register, and the default of every module without its own. */
const COMMAND_RESULT = '{rc, stdout, stderr} of the last command (stdout/stderr without the final newline); json: the parsed stdout when it is JSON';
const NOTHING = 'the last command result {rc, stdout, stderr}, or nothing when no command runs';

/** What `register: x` holds after the task, per module (a string) or per op. */
export const REGISTERS: Readonly<Record<string, string | Readonly<Record<string, string>>>> = {
  shell: COMMAND_RESULT,
  command: COMMAND_RESULT,
  copy: NOTHING,
  template: NOTHING,
  fetch: '{rc, stdout, stderr} of the copy; the file lands at dest on the controller (sha256 checked)',
  file: COMMAND_RESULT + ' (aside: stdout is "moved" or "absent")',
  service: COMMAND_RESULT,
  wait_for: COMMAND_RESULT,
  assert: 'nothing (the task fails when a condition does not hold)',
  fail: 'nothing (the task always fails)',
  pause: 'nothing',
  set_fact: 'nothing (the facts themselves become variables)',
  etcd_service: COMMAND_RESULT,
  etcd_config: NOTHING,
  dependents: COMMAND_RESULT,
  etcd_health: {
    check: '{healthy: N}, the number of healthy endpoints (the task fails when any is unhealthy)',
    status: '[{endpoint, id, cluster_id, leader, revision, raft_index, raft_term, db_size, db_size_in_use, is_learner, errors}] per endpoint',
    wait: 'like status: one entry per endpoint, read once all are healthy (with expect_members, the list is checked too)',
    preflight: '{members, healthy, quorum} now and, with remove, {members_after, healthy_after, quorum_after} (fails when the change would lose quorum)',
    lost: '{healthy, quorum}: how many members answered (fails while a quorum still serves)',
    down: '{alive: 0}: no member answers endpoint status (fails otherwise)',
    data: '{revision, keys}: this member serves data at the expected revision (fails otherwise)',
    report: '[{name, id, endpoint, leader, revision, raft_index, db_size, health, ...}] one row per member (what runbook status prints)',
  },
  etcd_member: {
    list: '[{id (hex), name, peerUrls, clientUrls, isLearner}] the live member list, sorted by ID',
    add: '{id, initial_cluster, learner}: the new member ID (hex), the --initial-cluster it must start with, and whether it was added as a learner',
    check_add: '{state: absent|added|started, id?, members_before}: whether the name may join at the peer URL (fails when another member uses it)',
    remove: 'the removed member ID (hex)',
    promote: 'the promoted member ID (hex)',
    update: 'the updated member ID (hex)',
    check_update: '{id, peer_url, ...}: the member to move and where (fails when the others would lose quorum while it restarts, or the URL is in use)',
  },
  etcd_snapshot: {
    save: 'the manifest: {file, path, sha256, size, revision, total_keys, live_keys, hash, source_member, source_endpoint, etcd_version}',
    backup: 'the manifest of the snapshot saved, fetched to the controller and checked there (same fields as save)',
    status: '{hash, revision, totalKey, totalSize} as `snapshot status -w json` prints it',
    manifest: 'the manifest read from FILE.manifest.json (same fields as save), checked against the file',
    verify: '{hash, revision, totalKey, totalSize} of the copy, checked against the manifest',
    distribute: NOTHING,
    restore: NOTHING,
    select: '{host, revision}: the member whose on-disk db has the highest revision',
    prune: COMMAND_RESULT,
  },
  etcd_maintenance: {
    compact: 'the revision compacted to (a number)',
    defrag: '{endpoint, id, db_size, db_size_in_use, ...}: this member status after the defrag',
    defrag_all: '{order, report, before, after}: the member order used (followers first), a size report, and the status before and after',
    alarm_list: '{alarms: [{member, alarm}], nospace: true|false}',
    alarm_disarm: COMMAND_RESULT,
    write_probe: COMMAND_RESULT,
  },
  etcd_cert: {
    check: '{hosts, warnings}: the hosts the SANs must cover and warnings such as expiry within 30 days (fails on a problem)',
    check_ca_key: 'the CA key check (fails unless the secret belongs to the cluster CA)',
    config: 'the TLS paths the member config names (fails unless they are the inventory ones)',
    served: '[{url, serial, not_after}] the certificate each URL presents (fails unless it is the installed one)',
    issue: 'the new files beside the old ones, checked like check',
    install: COMMAND_RESULT,
  },
  etcd_upgrade: {
    bundle: '{sha256, path}: the bundle on the controller',
    stage: '{offered, installed}: the offered and the installed etcd versions on this member',
    plan: 'the verdict: target version and order, or the rollback plan (fails when refused)',
    turn: "this member's turn (waits until followers before it are done)",
    install: COMMAND_RESULT,
    version: '{version}: the server version this member answers with (fails otherwise)',
    cluster_version: '{version, cluster}: every member version and the cluster version (fails otherwise)',
  },
  etcd_backup: {
    upload: '{key, sha256, size}: the verified object in the bucket',
    prune: '{deleted, kept}: what the remote retention deleted and why',
    locate: '{file, key, remote, manifest}: the chosen snapshot and its manifest',
    fetch: COMMAND_RESULT,
    metrics: 'the metrics file written',
  },
};

interface SchemaProp {
  type?: string | string[];
  enum?: unknown[];
  description?: string;
  default?: unknown;
  pattern?: string;
  minimum?: number;
  maximum?: number;
}

interface ModuleSchema {
  title?: string;
  properties?: Record<string, SchemaProp>;
  required?: string[];
  oneOf?: unknown;
  anyOf?: unknown;
}

function readSchema(name: string): ModuleSchema {
  return JSON.parse(readFileSync(join(PACKAGE_ROOT, 'schemas', 'modules', `${name}.schema.json`), 'utf8')) as ModuleSchema;
}

/** A module's documentation as data (the JSON format; the text format renders it). */
export function moduleDoc(name: string): Record<string, unknown> | undefined {
  const m = Object.prototype.hasOwnProperty.call(MODULES, name) ? MODULES[name] : undefined;
  if (!m) return undefined;
  const schema = readSchema(m.schema);
  const required = new Set(schema.required ?? []);
  const args = Object.entries(schema.properties ?? {}).map(([arg, p]) => ({
    name: arg,
    type: p.enum ? 'enum' : Array.isArray(p.type) ? p.type.join('|') : (p.type ?? 'any'),
    required: required.has(arg),
    ...(p.enum ? { choices: p.enum } : {}),
    ...(p.description ? { description: p.description } : {}),
    ...(p.default !== undefined ? { default: p.default } : {}),
    ...(p.minimum !== undefined || p.maximum !== undefined ? { range: [p.minimum ?? null, p.maximum ?? null] } : {}),
  }));
  const reg = REGISTERS[name];
  const ops = m.ops
    ? Object.entries(m.ops).map(([op, def]) => ({
        name: op,
        read_only: def.readOnly,
        register: typeof reg === 'object' ? (reg[op] ?? '') : (reg ?? ''),
      }))
    : [];
  return {
    format: DOC_FORMAT,
    module: name,
    summary: m.summary,
    ...(typeof m.readOnly === 'boolean' ? { read_only: m.readOnly } : {}),
    arguments: args,
    ...(ops.length ? { ops } : { register: typeof reg === 'string' ? reg : '' }),
  };
}

function text(doc: Record<string, unknown>): string {
  const out: string[] = [`${String(doc.module)} — ${String(doc.summary)}`, ''];
  out.push('ARGUMENTS');
  for (const a of doc.arguments as { name: string; type: string; required: boolean; choices?: unknown[]; description?: string; range?: unknown[] }[]) {
    const flags = [
      a.required ? 'required' : '',
      a.type,
      a.choices ? `one of: ${a.choices.map(String).join(', ')}` : '',
      a.range ? `range ${JSON.stringify(a.range)}` : '',
    ]
      .filter(Boolean)
      .join(', ');
    out.push(`  ${a.name}  (${flags})`);
    if (a.description) out.push(`      ${a.description}`);
  }
  const ops = doc.ops as { name: string; read_only: boolean; register: string }[] | undefined;
  if (ops) {
    out.push('', 'OPS  (read-only ops also run under apply --check)');
    for (const o of ops) out.push(`  ${o.name}${o.read_only ? '  (read-only)' : ''}`, `      register: ${o.register}`);
  } else {
    out.push('', 'REGISTER', `  ${String(doc.register)}`);
  }
  out.push('', 'Values only known at run time show in plans as ⟨name⟩ placeholders; see README "Templates".');
  return `${out.join('\n')}\n`;
}

export function runDoc(name: string | undefined, opts: { format?: string }, io: Io): number {
  if (name === undefined) {
    const list = Object.values(MODULES).map((m) => ({ module: m.name, summary: m.summary }));
    if (opts.format === 'json') io.out(stableStringify({ format: DOC_FORMAT, modules: list }));
    else io.out(`${list.map((m) => `${m.module.padEnd(18)} ${m.summary}`).join('\n')}\n\nrunbook doc MODULE for its arguments, ops and registered result\n`);
    return EXIT.OK;
  }
  const doc = moduleDoc(name);
  if (!doc) {
    io.err(`runbook doc: no module named "${name}"\n  modules: ${Object.keys(MODULES).join(', ')}\n`);
    return EXIT.INVALID;
  }
  io.out(opts.format === 'json' ? stableStringify(doc) : text(doc));
  return EXIT.OK;
}
