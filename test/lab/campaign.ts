// The randomized fault campaign (issue 18 item 3): on a lab of 4 hosts (3 members and a spare to
// start with), a seeded sequence of runs (test/lab/campaign-plan.ts), each a shipped playbook run
// by a `runbook apply` child process under live client traffic (test/lab/traffic.ts), with one
// fault injected at a step (counted from the run's JSON events) or after a delay. Then what the
// README tells an operator: fix the cause (etcd comes back by itself, the disk gets room, sshd is
// thawed), `--resume RUN_ID` (twice at most), and if the resume does not finish the job, run the
// playbook again (with --break-lock when the refusal says the lock is stale). Each run ends with
// the cluster checked from outside: every member healthy in one cluster with the expected
// membership, no learner, and every acknowledged write on every member (restore-all: every write
// at or below the snapshot's revision and every write after the restore, none in between).
// A run that ends refused must say what to do, and leave a healthy cluster with every write.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hostExec, labRequest, type Lab } from './lab.js';
import { seededRandom } from '../support/random.js';
import { describeSpec, nextSpec, stepOf, type RunSpec } from './campaign-plan.js';
import { gateway, startTraffic, type TrafficReport, type TrafficTls } from './traffic.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const BIN = path.join(ROOT, 'bin', 'runbook.js');
/** A run that takes longer than this is killed and reported as hung: a bug, whatever the fault. */
const HUNG_MS = 300_000;
const CANARIES = 50;
const BUMP = 1_000_000_000;
/** runbook's refusal of a stale lock (engine/cli/apply.ts), which tells the operator to pass --break-lock. */
const STALE_LOCK = /lock looks stale[\s\S]*--break-lock/;
/** runbook's warning at the end of a run that could not give back a host's lock. */
const LOCK_LEFT = /could not remove the run lock on: /;

export type Outcome = 'completed' | 'resumed' | 'rerun' | 'refused' | 'failed';

export interface Attempt {
  what: string;
  code: number | null;
  ms: number;
  runId?: string;
}

export interface RunResult {
  spec: RunSpec;
  /** The plan's number of steps (a step moment is a place among them). */
  steps: number;
  outcome: Outcome;
  attempts: Attempt[];
  /** Whether the fault was injected while the run was still going (the moment came before its end). */
  injectedDuringRun: boolean;
  /** What the fault did (e.g. "etcd pid 123 on etcd-2 killed", "no runbook session on etcd-4"). */
  fault: string;
  /** The run's last attempt warned that it could not remove its lock on a host (the next run breaks it, as told). */
  lockLeft: boolean;
  acked: number;
  lost: number;
  longestStallMs: number;
  /** The refusal's message (outcome refused), or what was wrong (failed). */
  message: string;
  problems: string[];
}

export interface CampaignCounts {
  runs: number;
  completed: number;
  resumed: number;
  rerun: number;
  refused: number;
  failed: number;
  /** Runs where an acknowledged write was missing afterwards (must be 0). */
  dataLost: number;
  acked: number;
}

export interface CampaignReport {
  seed: number;
  runs: RunResult[];
  counts: CampaignCounts;
}

export function countsOf(runs: RunResult[]): CampaignCounts {
  const n = (o: Outcome): number => runs.filter((r) => r.outcome === o).length;
  return {
    runs: runs.length,
    completed: n('completed'),
    resumed: n('resumed'),
    rerun: n('rerun'),
    refused: n('refused'),
    failed: n('failed'),
    dataLost: runs.filter((r) => r.lost > 0).length,
    acked: runs.reduce((s, r) => s + r.acked, 0),
  };
}

// ───────────── runbook as a child process, its JSON events read as they come ─────────────

interface Child {
  pid: number;
  /** Resolves when the process has exited. */
  done: Promise<{ code: number | null; runId?: string; stderr: string; failures: string[] }>;
  kill: () => void;
  exited: () => boolean;
}

function runbookChild(args: string[], onStepStart: (count: number, host: string) => void): Child {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  let out = '';
  let stderr = '';
  let runId: string | undefined;
  let starts = 0;
  const started = new Set<string>();
  const failures: string[] = [];
  child.stdout.setEncoding('utf8').on('data', (c: string) => {
    out += c;
    let nl: number;
    while ((nl = out.indexOf('\n')) >= 0) {
      const line = out.slice(0, nl);
      out = out.slice(nl + 1);
      let e: { type?: string; runId?: string; host?: string; stepId?: string; result?: { status?: string; message?: string } };
      try {
        e = JSON.parse(line) as typeof e;
      } catch {
        continue;
      }
      if (e.type === 'run.start' && e.runId) runId = e.runId;
      // A step's turn: its start, or its end when it was skipped without starting (a `when` that did not hold).
      if (e.type === 'step.start') started.add(e.stepId ?? '');
      if (e.type === 'step.start' || (e.type === 'step.end' && !started.has(e.stepId ?? ''))) onStepStart(++starts, e.host ?? '');
      if (e.type === 'step.end' && (e.result?.status === 'failed' || e.result?.status === 'unknown' || e.result?.status === 'unreachable'))
        failures.push(`${e.stepId ?? ''} ${e.result.status}: ${e.result.message ?? ''}`);
    }
  });
  child.stderr.setEncoding('utf8').on('data', (c: string) => {
    if (stderr.length < 256 * 1024) stderr += c;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), HUNG_MS);
  const done = new Promise<{ code: number | null; runId?: string; stderr: string; failures: string[] }>((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 + 9 : null), ...(runId ? { runId } : {}), stderr, failures });
    });
  });
  return { pid: child.pid ?? 0, done, kill: () => child.kill('SIGKILL'), exited: () => child.exitCode !== null || child.signalCode !== null };
}

// ───────────── faults, injected and healed inside the hosts (nsenter), never through runbook ─────────────

interface Injected {
  /** What the operator does about it before resuming (waits for etcd, frees the disk, thaws sshd). */
  heal: () => Promise<void>;
  note: string;
  /** The fault could not be injected (a harness problem: the run counts as failed). */
  error?: string;
}

async function sh(lab: Lab, host: string, cmd: string): Promise<string> {
  const r = await hostExec(lab, host, cmd, { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`${host}: ${cmd}: exit ${String(r.code)}: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

async function until(what: string, fn: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`campaign: timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** inject, never rejecting (it runs beside the playbook; nothing awaits it until the run ends). */
function injectSafely(lab: Lab, spec: RunSpec, child: Child): Promise<Injected> {
  return inject(lab, spec, child).catch((e: unknown) => {
    const error = `could not inject ${spec.fault}: ${e instanceof Error ? e.message : String(e)}`;
    return { heal: () => Promise.resolve(), note: error, error };
  });
}

async function inject(lab: Lab, spec: RunSpec, child: Child): Promise<Injected> {
  const h = spec.target ?? '';
  switch (spec.fault) {
    case 'kill-runbook':
      if (child.exited()) return { heal: () => Promise.resolve(), note: 'runbook had ended' };
      child.kill();
      return { heal: () => Promise.resolve(), note: `runbook pid ${child.pid} killed` };
    case 'kill-etcd': {
      const pid = await sh(lab, h, 'p=$(pgrep -x etcd || true); [ -z "$p" ] || kill -KILL $p; echo "$p"');
      // Restart=on-failure: the unit is "activating" until the stand-in has started etcd again.
      const heal = (): Promise<void> =>
        until(
          `etcd on ${h} to come back`,
          async () => (await hostExec(lab, h, 'systemctl is-active etcd', { timeoutMs: 10_000 })).stdout.trim() !== 'activating',
          60_000,
        );
      return { heal, note: pid ? `etcd pid ${pid} on ${h} killed` : `no etcd running on ${h}` };
    }
    case 'cut-ssh': {
      const pids = await sh(lab, h, "p=$(pgrep -f 'ssh[d]: root@notty' | tr '\\n' ' '); [ -z \"$p\" ] || kill -KILL $p 2>/dev/null; echo $p");
      return { heal: () => Promise.resolve(), note: pids ? `sshd session(s) ${pids} on ${h} killed` : `no runbook session on ${h}` };
    }
    case 'stop-sshd': {
      const out = await sh(lab, h, "p=\"$(cat /run/lab/sshd.pid) $(pgrep -f 'ssh[d]: root' | tr '\\n' ' ')\"; kill -STOP $p 2>/dev/null; echo $p");
      // Only numbers reach the thawing command (what pgrep printed, checked).
      const pids = out.split(/\s+/).filter((p) => /^\d+$/.test(p));
      return {
        heal: () => sh(lab, h, `kill -CONT ${pids.join(' ')} 2>/dev/null; true`).then(() => undefined),
        note: `sshd ${pids.join(' ')} on ${h} stopped`,
      };
    }
    case 'disk-full': {
      // A tmpfs over the backup dir (what was there copied in), then a filler until nothing fits;
      // the operator's fix is deleting the filler. The tmpfs stays (64 MiB of room) until the lab goes.
      await sh(
        lab,
        h,
        'd=/var/backups/etcd; mkdir -p $d; if ! mountpoint -q $d; then rm -rf /root/campaign-backups && cp -a $d /root/campaign-backups && ' +
          'mount -t tmpfs -o size=$(( $(du -sk $d | cut -f1) + 65536 ))k tmpfs $d && cp -a /root/campaign-backups/. $d/ && ' +
          'chown --reference=/root/campaign-backups $d && chmod --reference=/root/campaign-backups $d; fi; ' +
          'dd if=/dev/zero of=$d/.campaign-filler bs=1M 2>/dev/null; test "$(df --output=avail -k $d | tail -1 | tr -d " ")" -lt 64',
      );
      return { heal: () => sh(lab, h, 'rm -f /var/backups/etcd/.campaign-filler').then(() => undefined), note: `/var/backups/etcd on ${h} full` };
    }
  }
}

// ───────────── checks from outside: etcd's JSON gateway ─────────────

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string | undefined): string => Buffer.from(s ?? '', 'base64').toString('utf8');
const tlsOf = (lab: Lab): TrafficTls | undefined => (lab.tls ? { ...lab.tls } : undefined);

function urlOf(lab: Lab, host: string): string {
  const h = lab.hosts.find((x) => x.name === host);
  if (!h) throw new Error(`campaign: no lab host ${host}`);
  return `${lab.scheme}://${h.address}:2379`;
}

async function healthyAt(lab: Lab, host: string): Promise<boolean> {
  try {
    const r = await labRequest(lab, `${urlOf(lab, host)}/health`, undefined, 3000);
    return (r.json as { health?: string } | null)?.health === 'true';
  } catch {
    return false;
  }
}

interface Agents {
  tls?: { ca: Buffer; cert: Buffer; key: Buffer };
}
function agents(lab: Lab): Agents {
  return lab.tls ? { tls: { ca: readFileSync(lab.tls.ca), cert: readFileSync(lab.tls.cert), key: readFileSync(lab.tls.key) } } : {};
}

interface Member {
  name?: string;
  isLearner?: boolean;
}

/** The member names the cluster reports (from any member that answers). */
export async function liveMembers(lab: Lab, hosts: string[]): Promise<string[]> {
  for (const h of hosts) {
    try {
      const r = await gateway<{ members?: Member[] }>(urlOf(lab, h), 'cluster/member/list', {}, agents(lab), 5000);
      return (r.members ?? []).map((m) => m.name ?? '').sort();
    } catch {
      // the next host
    }
  }
  return [];
}

async function readPrefix(lab: Lab, host: string, prefix: string): Promise<Map<string, string>> {
  const end = Buffer.from(prefix, 'utf8');
  end[end.length - 1] = (end[end.length - 1] ?? 0) + 1;
  const r = await gateway<{ kvs?: { key: string; value?: string }[] }>(
    urlOf(lab, host),
    'kv/range',
    { key: b64(prefix), range_end: end.toString('base64'), serializable: true },
    agents(lab),
    10_000,
  );
  return new Map((r.kvs ?? []).map((kv) => [unb64(kv.key), unb64(kv.value)]));
}

/** The newest snapshot manifest's revision on the controller (what restore-all restores by default). */
function newestSnapshotRevision(lab: Lab): number {
  const dir = path.join(lab.dir, 'backups');
  const newest = readdirSync(dir)
    .filter((f) => f.endsWith('.db.manifest.json'))
    .sort()
    .at(-1);
  if (!newest) throw new Error(`campaign: no snapshot manifest in ${dir}`);
  return Number((JSON.parse(readFileSync(path.join(dir, newest), 'utf8')) as { revision: number }).revision);
}

/**
 * What must hold after a run: `members` healthy (waiting up to a minute: the last one may still be
 * catching up), each seeing exactly them, no learner, one cluster ID, the canaries and every
 * acknowledged write it must have. Returns the problems (empty: fine) and how many writes were lost.
 */
async function checkAfter(
  lab: Lab,
  members: string[],
  traffic: TrafficReport,
  prefix: string,
  snapshotRevision?: number,
): Promise<{ problems: string[]; lost: number }> {
  const problems: string[] = [];
  try {
    await until(`${members.join(', ')} healthy`, async () => (await Promise.all(members.map((m) => healthyAt(lab, m)))).every(Boolean), 60_000);
  } catch (e) {
    problems.push(e instanceof Error ? e.message : String(e));
    return { problems, lost: 0 };
  }
  const ids = new Set<string>();
  for (const m of members) {
    const r = await gateway<{ header: { cluster_id: string }; members?: Member[] }>(urlOf(lab, m), 'cluster/member/list', {}, agents(lab), 5000);
    ids.add(r.header.cluster_id);
    const names = (r.members ?? []).map((x) => x.name ?? '').sort();
    if (names.join(',') !== members.join(',')) problems.push(`${m} sees members ${names.join(', ')}, expected ${members.join(', ')}`);
    const learners = (r.members ?? []).filter((x) => x.isLearner).map((x) => x.name ?? '');
    if (learners.length) problems.push(`${m} sees learners ${learners.join(', ')}`);
  }
  if (ids.size !== 1) problems.push(`cluster IDs differ: ${[...ids].join(', ')}`);
  // restore-all: the writes after the snapshot and before the restore are gone by design (and must be),
  // if the restore happened (a refused run may have stopped before it): the revision jumped past the bump.
  let restoredFrom: number | undefined;
  if (snapshotRevision !== undefined && members[0]) {
    const st = await gateway<{ header: { revision: string } }>(urlOf(lab, members[0]), 'maintenance/status', {}, agents(lab), 5000);
    if (Number(st.header.revision) > snapshotRevision + BUMP) restoredFrom = snapshotRevision;
  }
  const must = traffic.acked.filter((w) => restoredFrom === undefined || w.revision <= restoredFrom || w.revision > restoredFrom + BUMP);
  const gone = restoredFrom === undefined ? [] : traffic.acked.filter((w) => w.revision > restoredFrom && w.revision <= restoredFrom + BUMP);
  // A read of a write the restore discarded finds it missing, as it must; any other read must see the acknowledged value.
  const goneKeys = new Set(gone.map((w) => w.key));
  const stale = traffic.staleReads.filter((r) => !goneKeys.has(r.slice(0, r.lastIndexOf(': '))));
  if (stale.length) problems.push(`reads returned another value than acknowledged: ${stale.slice(0, 3).join('; ')}`);
  let lost = 0;
  for (const m of members) {
    let missing: string[] = [];
    let back: string[] = [];
    // A follower applies the last entries a moment after the leader acknowledged them.
    for (let i = 0; i < 30; i++) {
      const have = await readPrefix(lab, m, prefix);
      const canaries = await readPrefix(lab, m, '/campaign-canary/');
      missing = must.filter((w) => have.get(w.key) !== w.value).map((w) => `${w.key}@${w.revision}`);
      back = gone.filter((w) => have.has(w.key)).map((w) => `${w.key}@${w.revision}`);
      if (canaries.size !== CANARIES) missing.push(`${CANARIES - canaries.size} canaries`);
      if (missing.length === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    lost = Math.max(lost, missing.length);
    if (missing.length) problems.push(`${m} lost ${missing.length} acknowledged write(s): ${missing.slice(0, 3).join(', ')}`);
    if (back.length) problems.push(`${m} holds ${back.length} write(s) made after the snapshot it was restored from: ${back.slice(0, 3).join(', ')}`);
  }
  return { problems, lost };
}

// ───────────── one run: playbook + fault + the operator's recovery ─────────────

/** The lab inventory with these members in group etcd and every other host a spare. */
function inventoryFor(lab: Lab, members: string[]): string {
  const spares = lab.hosts.map((h) => h.name).filter((h) => !members.includes(h));
  const file = path.join(lab.dir, `inventory-campaign-${members.join('-')}.yml`);
  const text = readFileSync(lab.inventoryPath, 'utf8')
    .replace(/^ {2}etcd:\n {4}hosts: \[[^\]]*\]\n( {2}spare:\n {4}hosts: \[[^\]]*\]\n)?/m, `  etcd:\n    hosts: [${members.join(', ')}]\n`)
    .replace(/^groups:\n/m, `groups:\n${spares.length ? `  spare:\n    hosts: [${spares.join(', ')}]\n` : ''}`);
  writeFileSync(file, text);
  return file;
}

/** The playbook's number of planned steps (each task on each host), from `runbook plan --format json`. */
async function plannedSteps(lab: Lab, spec: Pick<RunSpec, 'playbook' | 'extra'>, inventory: string): Promise<number> {
  const c = spawn(process.execPath, [BIN, 'plan', `${spec.playbook}.yml`, '-i', inventory, '--format', 'json', ...spec.extra.flatMap((e) => ['-e', e])], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  c.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  const code = await new Promise<number | null>((r) => c.on('close', r));
  if (code !== 0) throw new Error(`campaign: runbook plan ${spec.playbook} exit ${String(code)} (${lab.dir})`);
  const plan = JSON.parse(out) as { plays: { tasks: { steps: unknown[] }[] }[] };
  return plan.plays.reduce((s, p) => s + p.tasks.reduce((t, k) => t + k.steps.length, 0), 0);
}

/** A message an operator can act on: no stack trace, no internal error, and something that names the problem. */
export function clearMessage(text: string): boolean {
  if (/^\s+at .+:\d+:\d+\)?$/m.test(text) || /internal error/.test(text)) return false;
  return /\S/.test(text);
}

export interface CampaignOptions {
  seed: number;
  runs: number;
  log?: (line: string) => void;
  /** Called after each run (e.g. to write the report as it grows). */
  onRun?: (r: RunResult) => void;
}

/** Runs one seeded campaign on `lab` (4 hosts, the first three members, TLS or not). Stops at the first failed run. */
export async function runCampaign(lab: Lab, o: CampaignOptions): Promise<CampaignReport> {
  const log = o.log ?? ((l: string) => process.stdout.write(`${l}\n`));
  const rand = seededRandom(o.seed);
  const hosts = lab.hosts.map((h) => h.name);
  let members = lab.hosts.filter((h) => h.member).map((h) => h.name);
  // A fresh start: no run lock left by an earlier campaign process that died (its runs are not this seed's).
  rmSync(path.join(lab.dir, 'locks'), { recursive: true, force: true });
  const canaryAt = members[0] ?? '';
  for (let i = 1; i <= CANARIES; i++)
    await gateway(urlOf(lab, canaryAt), 'kv/put', { key: b64(`/campaign-canary/${i}`), value: b64(`value-${i}`) }, agents(lab), 5000);
  const runs: RunResult[] = [];
  for (let n = 1; n <= o.runs; n++) {
    const spec = nextSpec(rand, n, members, hosts);
    const r = await runOne(lab, spec, o.seed, runs.at(-1)?.lockLeft ?? false);
    runs.push(r);
    o.onRun?.(r);
    const what = `${r.fault || 'no fault'}${r.injectedDuringRun ? '' : ', after the run ended'}${r.lockLeft ? '; a host lock left, as warned' : ''}`;
    const tries = r.attempts.map((a) => `${a.what}=${String(a.code)}`).join(' ');
    log(
      `  ${describeSpec(spec, r.steps)} → ${r.outcome} (${what}); ` +
        `${r.acked} writes acknowledged, ${r.lost} lost, longest stall ${r.longestStallMs} ms; ${tries}` +
        (r.outcome === 'refused' || r.outcome === 'failed' ? `\n      ${r.message.split('\n').slice(0, 6).join('\n      ')}` : ''),
    );
    if (r.outcome === 'failed') break;
    members = r.outcome === 'refused' ? (await liveMembers(lab, hosts)).filter((m) => hosts.includes(m)) : spec.after;
  }
  return { seed: o.seed, runs, counts: countsOf(runs) };
}

/**
 * One run. `lockLeft`: the previous run ended saying it could not remove its lock on a host (its
 * connection there was gone): as that message says, this run passes --break-lock (the lock is stale).
 */
async function runOne(lab: Lab, spec: RunSpec, seed: number, lockLeft: boolean): Promise<RunResult> {
  const breakLock = lockLeft ? ['--break-lock'] : [];
  // Membership playbooks take the inventory at its end state (README); the others the current one.
  const inventory = inventoryFor(lab, spec.playbook.endsWith('-member') ? spec.after : spec.before);
  const journalDir = path.join(lab.dir, 'runs');
  const base = ['apply', `${spec.playbook}.yml`, '-i', inventory, '--yes', '--output', 'json', '--journal-dir', journalDir];
  const withExtra = [...base, ...spec.extra.flatMap((e) => ['-e', e])];
  const steps = await plannedSteps(lab, spec, inventory);
  const prefix = `/campaign/${seed}/${spec.n}/`;
  const endpoints = [...new Set([...spec.before, ...spec.after])].map((h) => urlOf(lab, h));
  const traffic = startTraffic({ endpoints, tls: tlsOf(lab), prefix, ratePerSec: 25, maxMs: 900_000, requestTimeoutMs: 1500 });
  const attempts: Attempt[] = [];
  const problems: string[] = [];
  const result = (r: Omit<RunResult, 'spec' | 'steps' | 'attempts' | 'problems'>): RunResult => ({ spec, steps, attempts, problems, ...r });
  const once = async (what: string, args: string[]): Promise<Awaited<Child['done']>> => {
    const t0 = Date.now();
    const r = await runbookChild(args, () => undefined).done;
    attempts.push({ what, code: r.code, ms: Date.now() - t0, ...(r.runId ? { runId: r.runId } : {}) });
    if (Date.now() - t0 >= HUNG_MS) problems.push(`${what}: no end within ${HUNG_MS} ms (killed)`);
    return r;
  };
  // Refused because a lock is stale (exit 4, "run again with --break-lock"): as the message says.
  const attempt = async (what: string, args: string[]): Promise<Awaited<Child['done']>> => {
    const r = await once(what, args);
    return r.code === 4 && STALE_LOCK.test(r.stderr) && !args.includes('--break-lock') ? once(`${what} --break-lock`, [...args, '--break-lock']) : r;
  };
  try {
    await until('the first acknowledged write', () => Promise.resolve(traffic.acked() > 0), 30_000);
    let snapshotRevision: number | undefined;
    if (spec.playbook === 'restore-all') {
      // The snapshot it restores: taken now, under the same traffic.
      const b = await attempt('backup', ['apply', 'backup.yml', '-i', inventory, '--yes', '--output', 'json', '--journal-dir', journalDir, ...breakLock]);
      if (b.code !== 0) throw new Error(`backup.yml before restore-all: exit ${String(b.code)}\n${b.stderr}`);
      snapshotRevision = newestSnapshotRevision(lab);
    }
    const { first, fault, during } = await faultedRun(lab, spec, [...withExtra, ...breakLock], steps);
    attempts.push({ what: 'run', code: first.code, ms: first.ms, ...(first.runId ? { runId: first.runId } : {}) });
    if (fault.error) problems.push(fault.error);
    if (first.ms >= HUNG_MS) problems.push(`the run: no end within ${HUNG_MS} ms (killed)`);
    let last: Awaited<Child['done']> = first;
    let outcome: Outcome | undefined = first.code === 0 ? 'completed' : undefined;
    // README: once the hosts answer again, --resume RUN_ID continues after the last finished step.
    let resumeId = first.runId;
    for (let i = 0; i < 2 && outcome === undefined && resumeId; i++) {
      last = await attempt(`resume${i + 1}`, [...base, '--resume', resumeId]);
      if (last.code === 0) outcome = 'resumed';
      resumeId = last.runId ?? resumeId;
    }
    // What a resume cannot finish is run again from the start (every playbook checks before it changes).
    if (outcome === undefined) {
      last = await attempt('rerun', withExtra);
      if (last.code === 0) outcome = 'rerun';
    }
    const report = await traffic.stop();
    const expected =
      outcome === undefined
        ? await liveMembers(
            lab,
            lab.hosts.map((h) => h.name),
          )
        : spec.after;
    const check = await checkAfter(lab, expected, report, prefix, snapshotRevision);
    problems.push(...check.problems);
    // What the operator reads last: the failed steps and the end of runbook's own output (not the plan summary).
    const message = [...last.failures, ...last.stderr.trim().split('\n').slice(-12)].filter(Boolean).join('\n');
    if (outcome === undefined) outcome = clearMessage(message) ? 'refused' : 'failed';
    if (problems.length > 0) outcome = 'failed';
    return result({
      outcome,
      injectedDuringRun: during,
      acked: report.acked.length,
      lost: check.lost,
      longestStallMs: report.longestStallMs,
      fault: fault.note,
      lockLeft: LOCK_LEFT.test(last.stderr),
      message: outcome === 'failed' ? [...problems, message].join('\n') : outcome === 'refused' ? message : '',
    });
  } catch (e) {
    const report = await traffic.stop();
    const msg = e instanceof Error ? e.message : String(e);
    problems.push(msg);
    return result({
      outcome: 'failed',
      injectedDuringRun: false,
      lockLeft: false,
      fault: '',
      acked: report.acked.length,
      lost: 0,
      longestStallMs: report.longestStallMs,
      message: msg,
    });
  }
}

/** The playbook run with its fault (at its step, or after its delay; just after the run if it ended first), then the fault healed. */
async function faultedRun(
  lab: Lab,
  spec: RunSpec,
  args: string[],
  steps: number,
): Promise<{ first: Awaited<Child['done']> & { ms: number }; fault: Injected; during: boolean }> {
  let injected: Promise<Injected> | undefined;
  const at = 'stepFraction' in spec.moment ? stepOf(spec.moment, steps) : Infinity;
  const t0 = Date.now();
  // Events arrive only after this returns, so `fire` always sees the child.
  const child = runbookChild(args, (count) => {
    if (count >= at) fire();
  });
  const fire = (): void => {
    injected ??= injectSafely(lab, spec, child);
  };
  const timer = 'delayMs' in spec.moment ? setTimeout(fire, spec.moment.delayMs) : undefined;
  const first = await child.done;
  const ms = Date.now() - t0;
  clearTimeout(timer);
  const during = injected !== undefined;
  // The run ended before its moment: the fault hits the cluster just after it (etcd killed, a disk full, …).
  injected ??= injectSafely(lab, spec, child);
  const fault = await injected;
  await fault.heal();
  return { first: { ...first, ms }, fault, during };
}
