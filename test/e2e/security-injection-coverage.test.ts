// Security e2e: the injection suite covers what it claims (issue 12.6). Every string argument of
// every module (read from the module schemas, so a new argument is covered or this file fails) and
// every -e variable of every shipped playbook (its play vars) get seven payload shapes: `;`, `$()`,
// backticks, a single- and a double-quote breakout, a newline and a leading dash. Each value is
// either refused when the plan is built (exit 2, nothing runs) or runs on the lab (2 hosts, no etcd:
// the commands may fail, the shell around them must not run the value; 127.0.LAB_NET.221-222), on the hosts and on the
// controller (delegate_to: localhost). Then marker files are looked for on the controller and on
// every host: a payload that ran would have created one.
//
// Cost: one compile per value (in process, milliseconds), one apply for all module arguments, and
// one `apply --check` per shipped playbook and payload shape (its variables share the payload).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { runApply } from '../../engine/cli/apply.js';
import { buildPlan } from '../../engine/cli/inputs.js';
import { EXIT, type Io } from '../../engine/model/io.js';
import type { JsonObject } from '../../engine/model/types.js';
import { MODULES } from '../../engine/modules/registry.js';
import { hostExec, labDown, labUp, type Lab } from '../lab/lab.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const DIR = path.join(REPO, '.runbook/lab-sec-inj-cov');
const HOSTS = ['etcd-1', 'etcd-2'];
const TOKEN = randomBytes(5).toString('hex');
/** Every marker starts with this: one glob finds them all, on every machine. */
const MARK = `/tmp/rb-injcov-${TOKEN}`;
/** Where tasks put files (on the hosts and on the controller). */
const BASE = `/tmp/rb-injcov-files-${TOKEN}`;

/** The seven shapes; `m` is the marker path the payload creates if it runs. */
const SHAPES: { label: string; value: (m: string) => string }[] = [
  { label: ';', value: (m) => `x; touch ${m}` },
  { label: '$()', value: (m) => `$(touch ${m})` },
  { label: 'backticks', value: (m) => `\`touch ${m}\`` },
  { label: "' breakout", value: (m) => `x'; touch ${m}; echo '` },
  { label: '" breakout', value: (m) => `x"; touch ${m}; echo "` },
  { label: 'newline', value: (m) => `x\ntouch ${m}\n` },
  { label: 'leading dash', value: (m) => `--version --output=${m} -rf` },
];

/** A task putting {{V}} into one argument, with the other arguments it needs. */
type TaskFor = (v: string) => JsonObject;

const ctl = `${BASE}/ctl`;
/**
 * How each module argument is exercised. The coverage test below fails when a string argument of a
 * module schema has no entry here, so a new argument cannot be left out.
 */
const ARGS: Record<string, Record<string, TaskFor>> = {
  shell: {
    cmd: (v) => ({ shell: `printf '%s' ${v} > ${BASE}/shell-out` }),
    chdir: (v) => ({ shell: { cmd: 'true', chdir: v } }),
    creates: (v) => ({ shell: { cmd: 'true', creates: v } }),
    stdin: (v) => ({ shell: { cmd: 'cat > /dev/null', stdin: v } }),
  },
  command: {
    argv: (v) => ({ command: { argv: ['printf', '%s', v] } }),
    chdir: (v) => ({ command: { argv: ['true'], chdir: v } }),
    creates: (v) => ({ command: { argv: ['true'], creates: v } }),
  },
  copy: {
    content: (v) => ({ copy: { content: v, dest: `${BASE}/copy-content` } }),
    dest: (v) => ({ copy: { content: 'x', dest: `${BASE}/${v}` } }),
    src: (v) => ({ copy: { src: v, dest: `${BASE}/copy-src` } }),
    mode: (v) => ({ copy: { content: 'x', dest: `${BASE}/copy-mode`, mode: v } }),
    owner: (v) => ({ copy: { content: 'x', dest: `${BASE}/copy-owner`, owner: v } }),
  },
  fetch: {
    src: (v) => ({ fetch: { src: `${BASE}/${v}`, dest: `${ctl}/fetched/` } }),
    dest: (v) => ({ fetch: { src: '/etc/hostname', dest: `${ctl}/${v}` } }),
  },
  template: {
    src: (v) => ({ template: { src: v, dest: `${BASE}/template-src` } }),
    dest: (v) => ({ template: { src: 'inj.hbs', dest: `${BASE}/${v}` } }),
    mode: (v) => ({ template: { src: 'inj.hbs', dest: `${BASE}/template-mode`, mode: v } }),
    owner: (v) => ({ template: { src: 'inj.hbs', dest: `${BASE}/template-owner`, owner: v } }),
  },
  file: {
    path: (v) => ({ file: { path: `${BASE}/${v}`, state: 'touch' } }),
    mode: (v) => ({ file: { path: `${BASE}/file-mode`, state: 'touch', mode: v } }),
    owner: (v) => ({ file: { path: `${BASE}/file-owner`, state: 'touch', owner: v } }),
    suffix: (v) => ({ file: { path: `${BASE}/aside-me`, state: 'aside', suffix: v } }),
  },
  service: { name: (v) => ({ service: { name: v, state: 'restarted' } }) },
  wait_for: {
    host: (v) => ({ wait_for: { host: v, port: 1, state: 'stopped', timeout: 2 } }),
    port: (v) => ({ wait_for: { host: '127.0.0.1', port: v, state: 'stopped', timeout: 2 } }),
    path: (v) => ({ wait_for: { path: `${BASE}/${v}`, state: 'absent', timeout: 2 } }),
  },
  assert: {
    fail_msg: (v) => ({ assert: { that: '1 == 2', fail_msg: v } }),
    success_msg: (v) => ({ assert: { that: '1 == 1', success_msg: v } }),
  },
  fail: { msg: (v) => ({ fail: { msg: v } }) },
  pause: { prompt: (v) => ({ pause: { seconds: 0, prompt: v } }) },
  set_fact: { value: (v) => ({ set_fact: { injected: v } }) },
  etcd_snapshot: {
    file: (v) => ({ etcd_snapshot: { op: 'status', file: `${BASE}/${v}` } }),
    dir: (v) => ({ etcd_snapshot: { op: 'prune', dir: `${BASE}/${v}` } }),
    src: (v) => ({ etcd_snapshot: { op: 'distribute', src: `${ctl}/${v}`, dest: `${BASE}/dist.db`, sha256: '0'.repeat(64) } }),
    dest: (v) => ({ etcd_snapshot: { op: 'distribute', src: `${ctl}/missing.db`, dest: `${BASE}/${v}`, sha256: '0'.repeat(64) } }),
    sha256: (v) => ({ etcd_snapshot: { op: 'verify', file: `${BASE}/x.db`, sha256: v } }),
    token: (v) => ({ etcd_snapshot: { op: 'restore', file: `${BASE}/x.db`, token: v } }),
    initial_cluster: (v) => ({ etcd_snapshot: { op: 'restore', file: `${BASE}/x.db`, initial_cluster: v } }),
    from: (v) => ({ etcd_snapshot: { op: 'select', from: v } }),
    max_age: (v) => ({ etcd_snapshot: { op: 'prune', dir: `${BASE}/prune`, max_age: v } }),
  },
  // This lab has no cluster.backup_remote: locate and metrics run (in-process: the value is data,
  // never a command), fetch plans a failure, upload is refused at plan time.
  etcd_backup: {
    file: (v) => ({ etcd_backup: { op: 'upload', file: `${ctl}/${v}` } }),
    snapshot: (v) => ({ etcd_backup: { op: 'locate', snapshot: v, dir: `${ctl}/none` } }),
    dir: (v) => ({ etcd_backup: { op: 'locate', snapshot: 'latest', dir: `${ctl}/${v}` } }),
    key: (v) => ({ etcd_backup: { op: 'fetch', key: v, dest: `${BASE}/f.db`, sha256: '0'.repeat(64), controller_file: `${ctl}/f.db` } }),
    dest: (v) => ({ etcd_backup: { op: 'fetch', key: 'k.db', dest: `${BASE}/${v}`, sha256: '0'.repeat(64), controller_file: `${ctl}/f.db` } }),
    sha256: (v) => ({ etcd_backup: { op: 'fetch', key: 'k.db', dest: `${BASE}/f.db`, sha256: v, controller_file: `${ctl}/f.db` } }),
    controller_file: (v) => ({ etcd_backup: { op: 'fetch', key: 'k.db', dest: `${BASE}/f.db`, sha256: '0'.repeat(64), controller_file: `${ctl}/${v}` } }),
    success: (v) => ({ etcd_backup: { op: 'metrics', success: v, manifest: 'snap' } }),
    manifest: (v) => ({ etcd_backup: { op: 'metrics', success: 'done', manifest: v } }),
  },
  etcd_member: {
    name: (v) => ({ etcd_member: { op: 'promote', name: v } }),
    peer_url: (v) => ({ etcd_member: { op: 'update', name: 'etcd-1', peer_url: v } }),
    endpoints: (v) => ({ etcd_member: { op: 'list', endpoints: v } }),
    keep_peer_url: (v) => ({ etcd_member: { op: 'remove', name: 'etcd-9', keep_peer_url: v } }),
  },
  etcd_health: {
    endpoints: (v) => ({ etcd_health: { op: 'check', endpoints: v } }),
    remove: (v) => ({ etcd_health: { op: 'preflight', remove: v } }),
    expect_members: (v) => ({ etcd_health: { op: 'wait', timeout: 1, expect_members: v } }),
  },
  // upgrade: nothing here may change a binary. bundle reads a missing source; stage's first action puts a
  // bundle that does not exist (so bin_dir is never used); the version arguments are patterns.
  etcd_upgrade: {
    src: (v) => ({ etcd_upgrade: { op: 'bundle', src: `${ctl}/${v}`, dir: `${ctl}/upgrade-src` } }),
    dir: (v) => ({ etcd_upgrade: { op: 'bundle', src: `${ctl}/missing-etcd.tar.gz`, dir: `${ctl}/${v}` } }),
    bundle: (v) => ({ etcd_upgrade: { op: 'stage', bundle: `${ctl}/${v}`, sha256: '0'.repeat(64) } }),
    sha256: (v) => ({ etcd_upgrade: { op: 'stage', bundle: `${ctl}/missing.tar`, sha256: v } }),
    bin_dir: (v) => ({ etcd_upgrade: { op: 'stage', bundle: `${ctl}/missing.tar`, sha256: '0'.repeat(64), bin_dir: `${BASE}/${v}` } }),
    image: (v) => ({ etcd_upgrade: { op: 'stage', bundle: `${ctl}/missing.tar`, sha256: '0'.repeat(64), image: v } }),
    offered: (v) => ({ etcd_upgrade: { op: 'plan', offered: v } }),
    version: (v) => ({ etcd_upgrade: { op: 'version', version: v } }),
  },
  etcd_cert: {
    ca_key: (v) => ({ etcd_cert: { op: 'issue', ca_key: v } }),
    days: (v) => ({ etcd_cert: { op: 'issue', days: v } }),
    sans: (v) => ({ etcd_cert: { op: 'issue', sans: v } }),
  },
  etcd_config: {
    initial_cluster: (v) => ({ etcd_config: { state: 'existing', membership_only: true, initial_cluster: v } }),
    token: (v) => ({ etcd_config: { state: 'new', token: v } }),
  },
};

/** String arguments of a module schema (templated ones: rawArgs such as assert's `that` are conditions, never rendered). */
function stringArgs(module: string): string[] {
  const m = MODULES[module];
  if (!m) return [];
  if (module === 'set_fact') return ['value'];
  const s = JSON.parse(readFileSync(path.join(REPO, 'schemas', 'modules', `${m.schema}.schema.json`), 'utf8')) as {
    properties?: Record<string, { type?: unknown; items?: { type?: unknown }; enum?: unknown }>;
  };
  const isStr = (t: unknown): boolean => t === 'string' || (Array.isArray(t) && t.includes('string'));
  return Object.entries(s.properties ?? {})
    .filter(([k, p]) => !p.enum && !(m.rawArgs ?? []).includes(k) && (isStr(p.type) || (p.type === 'array' && isStr(p.items?.type))))
    .map(([k]) => k);
}

/** Every -e variable of every shipped playbook: the play vars an operator can override. */
function playbookVars(): { playbook: string; vars: string[] }[] {
  return readdirSync(path.join(REPO, 'playbooks'))
    .filter((f) => f.endsWith('.yml'))
    .sort()
    .map((f) => {
      const plays = parse(readFileSync(path.join(REPO, 'playbooks', f), 'utf8')) as { vars?: Record<string, unknown> }[];
      return { playbook: f, vars: [...new Set(plays.flatMap((p) => Object.keys(p.vars ?? {})))].sort() };
    })
    .filter((p) => p.vars.length > 0);
}

/**
 * The shipped playbook cut down to the tasks its variables reach: a task that uses one of them, or
 * a value registered by such a task, in any field. The tasks left out only ask etcd (which this lab
 * does not run) and would each wait out their deadline (minutes) without touching the variables.
 * Plays, their vars, hosts and every kept task are the playbook's own, unchanged.
 */
function usingVars(playbook: string, vars: string[], dir: string): string {
  const plays = parse(readFileSync(path.join(REPO, 'playbooks', playbook), 'utf8')) as ({ tasks?: JsonObject[] } & JsonObject)[];
  const tasks = plays.flatMap((p) => p.tasks ?? []);
  const refers = (t: JsonObject, n: string): boolean => new RegExp(`\\b${n}\\b`).test(JSON.stringify({ ...t, name: '', register: '' }));
  // Kept: a task that uses a variable or a value registered by a kept task, and a task whose
  // registered value a kept task uses (so every kept task still has its inputs). Until nothing changes.
  const kept = new Set<JsonObject>();
  for (let changed = true; changed;) {
    changed = false;
    const names = [...vars, ...[...kept].map((t) => t.register).filter((r): r is string => typeof r === 'string')];
    for (const t of tasks) {
      if (kept.has(t)) continue;
      const needed = typeof t.register === 'string' && [...kept].some((k) => refers(k, t.register as string));
      if (needed || names.some((n) => refers(t, n))) {
        kept.add(t);
        changed = true;
      }
    }
  }
  const cut = plays.map((p) => ({ ...p, tasks: (p.tasks ?? []).filter((t) => kept.has(t)) })).filter((p) => p.tasks.length > 0);
  const file = path.join(dir, `vars-${playbook}`);
  writeFileSync(file, stringify(cut));
  return file;
}

const MODULE_ARGS = Object.keys(MODULES)
  .sort()
  .flatMap((module) => stringArgs(module).map((arg) => ({ module, arg })));
const PB_VARS = playbookVars();
const VAR_COUNT = PB_VARS.reduce((n, p) => n + p.vars.length, 0);

interface Attempt {
  id: string;
  marker: string;
  value: string;
  outcome?: 'refused' | 'ran';
}

function captureIo(): Io & { all: () => string } {
  let text = '';
  return { out: (s) => void (text += s), err: (s) => void (text += s), isTTY: false, all: () => text };
}

describe('security: every module argument and playbook variable × 7 payload shapes (lab)', function () {
  this.timeout(300_000);
  let lab: Lab;
  let tmp: string;
  const moduleAttempts = new Map<string, Attempt>();
  const varAttempts = new Map<string, Attempt>();
  let applyCode = -1;
  let applyOutput = '';
  let found = { controller: [] as string[], hosts: {} as Record<string, string[]> };

  before(async function () {
    this.timeout(600_000);
    lab = await labUp({ dir: DIR, hosts: HOSTS.length, etcd: false, firstOctet: 221 });
    tmp = mkdtempSync(path.join(tmpdir(), 'runbook-injcov-'));
    mkdirSync(`${ctl}/fetched`, { recursive: true });
    writeFileSync(path.join(tmp, 'inj.hbs'), 'static {{inventory_hostname}}\n');
    const io = (): Io & { all: () => string } => captureIo();
    const t0 = Date.now();
    const note = (s: string): void => void process.stderr.write(`      [${((Date.now() - t0) / 1000).toFixed(1)} s] ${s}\n`);

    // Module arguments: compile each value alone; the ones the plan accepts all run in one apply.
    const tasks: JsonObject[] = [];
    const extra: string[] = [];
    MODULE_ARGS.forEach(({ module, arg }, ai) => {
      const taskFor = ARGS[module]?.[arg];
      if (!taskFor) return; // reported by the coverage test
      SHAPES.forEach((shape, si) => {
        const id = `${module}.${arg} ${shape.label}`;
        const name = `v${ai}_${si}`;
        const a: Attempt = { id, marker: `${MARK}-m${ai}-${si}`, value: shape.value(`${MARK}-m${ai}-${si}`) };
        moduleAttempts.set(id, a);
        const one = path.join(tmp, `one-${name}.yml`);
        const task = { name: id, ...taskFor(`{{${name}}}`), ignore_errors: true };
        writeFileSync(one, JSON.stringify([{ name: 'one', hosts: 'etcd', tasks: [task] }]));
        const r = buildPlan({ playbook: one, inventory: lab.inventoryPath, extraVars: [`${name}=${a.value}`] });
        if (!r.plan) {
          a.outcome = 'refused';
          return;
        }
        a.outcome = 'ran';
        extra.push(`${name}=${a.value}`);
        tasks.push(task, { ...task, name: `${id} (controller)`, delegate_to: 'localhost' });
      });
    });
    note(`${moduleAttempts.size} module-argument values compiled, ${tasks.length / 2} accepted`);
    const pb = path.join(tmp, 'inject-all.yml');
    writeFileSync(
      pb,
      JSON.stringify([
        {
          name: 'inject',
          hosts: 'etcd',
          tasks: [
            { name: 'base dir', shell: `mkdir -p ${BASE}` },
            { name: 'base dir (controller)', shell: `mkdir -p ${BASE}`, delegate_to: 'localhost', run_once: true },
            ...tasks,
          ],
        },
      ]),
    );
    const out = io();
    applyCode = await runApply(
      pb,
      { inventory: lab.inventoryPath, extraVars: extra, journalDir: path.join(tmp, 'runs'), output: 'text', forks: 4, yes: true },
      out,
    );
    applyOutput = out.all();
    note(`module arguments applied: exit ${applyCode}`);
    if (process.env.RUNBOOK_E2E_SHOW === '1') process.stderr.write(applyOutput);

    // Playbook variables: one --check apply per playbook and shape, all its variables set to the payload.
    for (const { playbook, vars } of PB_VARS) {
      const pbFile = usingVars(playbook, vars, tmp);
      for (const [si, shape] of SHAPES.entries()) {
        const marker = `${MARK}-p${PB_VARS.findIndex((p) => p.playbook === playbook)}-${si}`;
        const value = shape.value(marker);
        for (const v of vars) varAttempts.set(`${playbook} ${v} ${shape.label}`, { id: `${playbook} ${v} ${shape.label}`, marker, value });
        const o = io();
        const code = await runApply(
          pbFile,
          {
            inventory: lab.inventoryPath,
            extraVars: vars.map((v) => `${v}=${value}`),
            journalDir: path.join(tmp, 'runs'),
            output: 'text',
            check: true,
            yes: true,
          },
          o,
        );
        note(`${playbook} with ${shape.label}: exit ${code}`);
        if (process.env.RUNBOOK_E2E_SHOW === '1') process.stderr.write(o.all());
        for (const v of vars) {
          const a = varAttempts.get(`${playbook} ${v} ${shape.label}`);
          if (a) a.outcome = code === EXIT.INVALID ? 'refused' : 'ran';
        }
      }
    }

    // Markers: on the controller and on every host.
    const list = `ls -d ${MARK}* 2>/dev/null; true`;
    found = { controller: (await import('node:child_process')).execSync(list, { encoding: 'utf8', shell: '/bin/sh' }).split('\n').filter(Boolean), hosts: {} };
    for (const h of HOSTS) found.hosts[h] = (await hostExec(lab, h, list, { timeoutMs: 10_000 })).stdout.split('\n').filter(Boolean);
  });

  after(async function () {
    this.timeout(60_000);
    await labDown(DIR);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    rmSync(BASE, { recursive: true, force: true });
    rmSync(ctl, { recursive: true, force: true });
  });

  const executed = (marker: string): string[] => [
    ...(found.controller.includes(marker) ? ['controller'] : []),
    ...HOSTS.filter((h) => found.hosts[h]?.includes(marker)),
  ];

  it('every string argument of every module schema has an entry in this suite', () => {
    assert.deepEqual(
      MODULE_ARGS.filter(({ module, arg }) => !ARGS[module]?.[arg]).map(({ module, arg }) => `${module}.${arg}`),
      [],
    );
  });

  it('the apply of every accepted module-argument value ran (tasks may fail, ignore_errors) and reached every host', () => {
    assert.ok([EXIT.OK, EXIT.FAILED].includes(applyCode as 0 | 1), applyOutput.slice(-4000));
    assert.match(applyOutput, /PLAY RECAP|recap/i, applyOutput.slice(-2000));
  });

  for (const { module, arg } of MODULE_ARGS) {
    for (const shape of SHAPES) {
      const id = `${module}.${arg} ${shape.label}`;
      it(`[injection] module argument ${id}: refused or inert, no marker anywhere`, () => {
        const a = moduleAttempts.get(id);
        assert.ok(a?.outcome, `${id} was not attempted`);
        assert.deepEqual(executed(a.marker), [], `${id} (${a.outcome}) ran: marker ${a.marker}`);
      });
    }
  }

  for (const { playbook, vars } of PB_VARS) {
    for (const v of vars) {
      for (const shape of SHAPES) {
        const id = `${playbook} ${v} ${shape.label}`;
        it(`[injection] playbook variable -e ${v} of ${playbook} with ${shape.label}: refused or inert under --check, no marker anywhere`, () => {
          const a = varAttempts.get(id);
          assert.ok(a?.outcome, `${id} was not attempted`);
          assert.deepEqual(executed(a.marker), [], `${id} (${a.outcome}) ran: marker ${a.marker}`);
        });
      }
    }
  }

  // npm run reliability prints this title as its coverage line, with the number of attempts that ran.
  it(`[injection] coverage: ${MODULE_ARGS.length} module arguments × ${SHAPES.length} payloads, ${VAR_COUNT} playbook variables × ${SHAPES.length} payloads`, () => {
    assert.deepEqual(found.controller, [], 'markers on the controller');
    for (const h of HOSTS) assert.deepEqual(found.hosts[h], [], `markers on ${h}`);
    const all = [...moduleAttempts.values(), ...varAttempts.values()];
    assert.equal(all.length, (MODULE_ARGS.length + VAR_COUNT) * SHAPES.length);
    assert.ok(all.every((a) => a.outcome !== undefined));
    // Not vacuous: values that the plan accepts did run, for module arguments and playbook variables.
    assert.ok(
      [...moduleAttempts.values()].some((a) => a.outcome === 'ran'),
      'no module-argument value ran',
    );
    assert.ok(
      [...varAttempts.values()].some((a) => a.outcome === 'ran'),
      'no playbook-variable value ran',
    );
  });
});
