// Two plans → PlanDiff. Plays are matched by name, tasks by name within their play, steps by host
// (a repeated name gets #2, #3, … in order). What does not change what runs is not a change: the
// order of hosts in a play (they run in parallel), the order inside member and endpoint lists, step
// ids and indexes. What does is: a task's settings, which host a run_once task runs on, serial
// batch order, and the order of tasks in a play (reported as "moved").
import { basename } from 'node:path';
import type { Plan, PlannedPlay, PlannedTask, Step } from '../model/types.js';
import { lcsPairs } from './lcs.js';
import { stepLines } from '../report/plan-text.js';
import { diffStep, type StepDelta } from './steps.js';
import {
  DIFF_FORMAT,
  DIFF_VERSION,
  type ActionChange,
  type DiffCounts,
  type FieldChange,
  type HostChange,
  type PlanDiff,
  type PlayChange,
  type SideInfo,
  type StepGroup,
  type TaskChange,
  type WordChange,
} from './model.js';

export interface DiffSources {
  /** Where each side came from, e.g. `git:origin/main`, `plan.json`, `working tree`. */
  old: string;
  new: string;
}

type Aligned = { kind: 'matched'; a: number; b: number; moved: boolean } | { kind: 'added'; b: number } | { kind: 'removed'; a: number };

/** Names made unique in order: a repeated name gets #2, #3, … */
function keysOf(names: string[]): string[] {
  const seen = new Map<string, number>();
  return names.map((n) => {
    const c = (seen.get(n) ?? 0) + 1;
    seen.set(n, c);
    return c === 1 ? n : `${n}#${c}`;
  });
}

/**
 * Match two keyed lists. The result is in the new order, each removed item placed after the item
 * that preceded it in the old list. Matched items outside a longest common order are "moved".
 */
export function align(ka: string[], kb: string[]): Aligned[] {
  const ia = new Map(ka.map((k, i) => [k, i]));
  const ib = new Map(kb.map((k, i) => [k, i]));
  const commonA = ka.filter((k) => ib.has(k));
  const commonB = kb.filter((k) => ia.has(k));
  const inOrder = new Set(lcsPairs(commonA, commonB).map(([i]) => commonA[i]));
  const removedAfter = new Map<number, number[]>();
  let anchor = -1;
  ka.forEach((k, i) => {
    const j = ib.get(k);
    if (j !== undefined) anchor = j;
    else removedAfter.set(anchor, [...(removedAfter.get(anchor) ?? []), i]);
  });
  const out: Aligned[] = (removedAfter.get(-1) ?? []).map((a) => ({ kind: 'removed', a }));
  kb.forEach((k, j) => {
    const i = ia.get(k);
    out.push(i === undefined ? { kind: 'added', b: j } : { kind: 'matched', a: i, b: j, moved: !inOrder.has(k) });
    for (const a of removedAfter.get(j) ?? []) out.push({ kind: 'removed', a });
  });
  return out;
}

const yesNo = (b: boolean): string => (b ? 'yes' : 'no');

function collectFields(pairs: [string, string, string][]): FieldChange[] {
  return pairs.filter(([, x, y]) => x !== y).map(([field, x, y]) => ({ field, old: x, new: y }));
}

function taskFields(a: PlannedTask, b: PlannedTask): FieldChange[] {
  const cond = (x: string[] | undefined): string => (x ?? []).join(' and ');
  const retries = (t: PlannedTask): string => (t.retries ? `${t.retries} every ${t.delaySec}s` : '');
  return collectFields([
    ['module', a.module, b.module],
    ['when', cond(a.when), cond(b.when)],
    ['register', a.register ?? '', b.register ?? ''],
    ['run_once', yesNo(a.runOnce), yesNo(b.runOnce)],
    ['delegate_to', a.delegateTo ?? '', b.delegateTo ?? ''],
    ['retries', retries(a), retries(b)],
    ['until', cond(a.until), cond(b.until)],
    ['timeout', `${a.timeoutSec}s`, `${b.timeoutSec}s`],
    ['ignore_errors', yesNo(a.ignoreErrors), yesNo(b.ignoreErrors)],
    ['changed_when', cond(a.changedWhen), cond(b.changedWhen)],
    ['failed_when', cond(a.failedWhen), cond(b.failedWhen)],
    ['tags', [...a.tags].sort().join(', '), [...b.tags].sort().join(', ')],
    ['become', yesNo(a.become), yesNo(b.become)],
    ['read-only', yesNo(a.checkMode), yesNo(b.checkMode)],
  ]);
}

function batchText(p: PlannedPlay): string {
  return p.batches.map((b) => [...b].sort().join(', ')).join(' | ');
}

function playFields(a: PlannedPlay, b: PlannedPlay): FieldChange[] {
  const serial = a.batches.length > 1 || b.batches.length > 1;
  return collectFields([
    ['hosts pattern', a.pattern, b.pattern],
    ['serial batches', serial ? batchText(a) : '', serial ? batchText(b) : ''],
    ['any_errors_fatal', yesNo(a.anyErrorsFatal), yesNo(b.anyErrorsFatal)],
    [
      'max_fail_percentage',
      a.maxFailPercentage === undefined ? '' : String(a.maxFailPercentage),
      b.maxFailPercentage === undefined ? '' : String(b.maxFailPercentage),
    ],
    ['destructive', yesNo(a.destructive), yesNo(b.destructive)],
    ['always', yesNo(a.always === true), yesNo(b.always === true)],
  ]);
}

interface Entry {
  status: StepGroup['status'];
  host: string;
  was?: string;
  delta: StepDelta;
  /** Equal for hosts whose change is the same (host-specific context left out). */
  signature: string;
  /** The step's intent (the new step's; the old one's when removed). */
  intent?: string;
}

/** Whether two changes also show the same lines (not only the same words changed). */
function sameLines(x: StepDelta, y: StepDelta): boolean {
  if (x.actions.length !== y.actions.length) return false;
  return x.actions.every((a, i) => {
    const b = y.actions[i];
    return (
      b !== undefined &&
      a.context === b.context &&
      a.lines.length === b.lines.length &&
      a.lines.every((l, k) => l.old === b.lines[k]?.old && l.new === b.lines[k]?.new)
    );
  });
}

/** Long strings (a 1,000-member list) stand for themselves by a number in signatures. */
const interned = new Map<string, number>();
function short(s: string | undefined): string | number | undefined {
  if (s === undefined || s.length < 80) return s;
  let n = interned.get(s);
  if (n === undefined) interned.set(s, (n = interned.size));
  return n;
}

/** A checksum word (put … sha256 must be 3f2a…): derived from content that is compared anyway. */
const HASH = /^[0-9a-f]{12,64},?$/;

function signatureOf(status: string, d: StepDelta): string {
  const words = (ws: WordChange[]): unknown[] =>
    ws
      .filter((w) => !(w.old !== undefined && w.new !== undefined && HASH.test(w.old) && HASH.test(w.new)))
      .map((w) => [w.key, short(w.old), short(w.new), w.added?.map(short), w.removed?.map(short)]);
  const actions = d.actions.map((a) => ({
    op: a.op,
    lines: a.lines.map((l) => (l.words.length && l.old !== undefined && l.new !== undefined ? { w: words(l.words) } : { o: short(l.old), n: short(l.new) })),
  }));
  return JSON.stringify({ status, f: d.fields, a: actions, u: d.unchangedActions });
}

function wholeStep(op: 'added' | 'removed', s: Step): StepDelta {
  // The commands, as before intents existed; the group carries the intent line itself.
  const bare: Step = { ...s };
  delete bare.intent;
  const lines = stepLines(bare).map((l) => (op === 'added' ? { new: l, words: [] } : { old: l, words: [] }));
  const action: ActionChange = { op, lines };
  return {
    fields: s.target !== s.host && !s.skip ? [{ field: 'runs on', old: op === 'removed' ? s.target : '', new: op === 'added' ? s.target : '' }] : [],
    actions: [action],
    unchangedActions: 0,
  };
}

const byName = (x: string, y: string): number => x.localeCompare(y, 'en', { numeric: true });

/**
 * Hosts with the same change are one group, in the order they first appear; hosts sorted by name.
 * Entries are added one by one and only a group's first delta is kept (1,000 hosts, one change).
 */
class Groups {
  private readonly groups = new Map<string, { first: Entry; hosts: string[]; was: string[]; sameLines: boolean; sameIntent: boolean }>();
  size = 0;

  add(e: Entry): void {
    this.size++;
    const key = e.status === 'replaced' ? `${e.signature}\u0000${e.was ?? ''}\u0000${e.host}` : e.signature;
    const g = this.groups.get(key);
    if (g) {
      g.hosts.push(e.host);
      if (g.sameLines && !sameLines(e.delta, g.first.delta)) g.sameLines = false;
      if (e.intent !== g.first.intent) g.sameIntent = false;
    } else this.groups.set(key, { first: e, hosts: [e.host], was: e.was ? [e.was] : [], sameLines: true, sameIntent: true });
  }

  list(): StepGroup[] {
    return [...this.groups.values()].map((g) => ({
      status: g.first.status,
      hosts: g.first.status === 'replaced' ? g.hosts : [...g.hosts].sort(byName),
      ...(g.was.length ? { was: g.was } : {}),
      ...(!g.sameLines ? { shownFor: g.first.host } : {}),
      // An intent that names a host (restore as member etcd-1) is shown only when every host of the group shares it.
      ...(g.first.intent !== undefined && (g.sameIntent || !g.sameLines) ? { intent: g.first.intent } : {}),
      fields: g.first.delta.fields,
      actions: g.first.delta.actions,
      unchangedActions: g.first.delta.unchangedActions,
    }));
  }
}

function entry(status: StepGroup['status'], host: string, delta: StepDelta, was?: string, intent?: string): Entry {
  return { status, host, delta, signature: signatureOf(status, delta), ...(was !== undefined ? { was } : {}), ...(intent !== undefined ? { intent } : {}) };
}

interface Tally {
  steps: DiffCounts;
  tasks: DiffCounts;
  plays: DiffCounts;
  hosts: Set<string>;
  settings: number;
  moved: number;
}

function wholeTask(op: 'added' | 'removed', t: PlannedTask, tally: Tally, unchangedBefore: number): TaskChange {
  for (const s of t.steps) tally.hosts.add(s.host);
  tally.steps[op] += t.steps.length;
  tally.tasks[op]++;
  const groups = new Groups();
  for (const s of t.steps) groups.add(entry(op, s.host, wholeStep(op, s), undefined, s.intent));
  return { index: t.index, name: t.name, module: t.module, status: op, fields: [], steps: groups.list(), unchangedHosts: 0, unchangedBefore };
}

function diffTask(a: PlannedTask, b: PlannedTask, moved: boolean, tally: Tally, unchangedBefore: number): TaskChange | undefined {
  const fields = taskFields(a, b);
  const byHostA = new Map(a.steps.map((s) => [s.host, s]));
  const hostsB = new Set(b.steps.map((s) => s.host));
  const entries = new Groups();
  const added: Step[] = [];
  let unchangedHosts = 0;
  let modified = 0;
  for (const s of b.steps) {
    const old = byHostA.get(s.host);
    if (!old) {
      added.push(s);
      continue;
    }
    const d = diffStep(old, s);
    if (d) {
      entries.add(entry('modified', s.host, d, undefined, s.intent));
      modified++;
      tally.hosts.add(s.host);
    } else {
      unchangedHosts++;
      // A changed task setting (timeout, retries, …) changes every step of the task.
      if (fields.length) {
        modified++;
        tally.hosts.add(s.host);
      }
    }
  }
  const removed = a.steps.filter((s) => !hostsB.has(s.host));
  // A host that left and one that came in the same task are shown side by side (etcd-3 → etcd-4).
  const pairs = Math.min(removed.length, added.length);
  for (let k = 0; k < pairs; k++) {
    const o = removed[k];
    const n = added[k];
    if (!o || !n) continue;
    entries.add(entry('replaced', n.host, diffStep(o, n) ?? { fields: [], actions: [], unchangedActions: o.skip ? 0 : o.actions.length }, o.host, n.intent));
  }
  for (const n of added.slice(pairs)) entries.add(entry('added', n.host, wholeStep('added', n), undefined, n.intent));
  for (const o of removed.slice(pairs)) entries.add(entry('removed', o.host, wholeStep('removed', o), undefined, o.intent));
  for (const s of [...added, ...removed]) tally.hosts.add(s.host);
  tally.steps.added += added.length;
  tally.steps.removed += removed.length;
  tally.steps.modified += modified;
  if (!fields.length && !entries.size && !moved) return undefined;
  tally.tasks.modified++;
  if (moved) tally.moved++;
  return {
    index: b.index,
    name: b.name,
    module: b.module,
    status: 'modified',
    ...(moved ? { moved: true } : {}),
    fields,
    steps: entries.list(),
    unchangedHosts,
    unchangedBefore,
  };
}

function diffTasks(a: PlannedTask[], b: PlannedTask[], tally: Tally): { tasks: TaskChange[]; unchangedAfter: number } {
  const tasks: TaskChange[] = [];
  let unchanged = 0;
  for (const al of align(keysOf(a.map((t) => t.name)), keysOf(b.map((t) => t.name)))) {
    let change: TaskChange | undefined;
    if (al.kind === 'added') {
      const t = b[al.b];
      if (t) change = wholeTask('added', t, tally, unchanged);
    } else if (al.kind === 'removed') {
      const t = a[al.a];
      if (t) change = wholeTask('removed', t, tally, unchanged);
    } else {
      const ta = a[al.a];
      const tb = b[al.b];
      if (ta && tb) change = diffTask(ta, tb, al.moved, tally, unchanged);
    }
    if (change) {
      tasks.push(change);
      unchanged = 0;
    } else unchanged++;
  }
  return { tasks, unchangedAfter: unchanged };
}

function wholePlay(op: 'added' | 'removed', p: PlannedPlay, tally: Tally, unchangedBefore: number): PlayChange {
  tally.plays[op]++;
  const tasks = p.tasks.map((t) => wholeTask(op, t, tally, 0));
  return {
    index: p.index,
    name: p.name,
    status: op,
    fields: [],
    hostsAdded: op === 'added' ? p.hosts : [],
    hostsRemoved: op === 'removed' ? p.hosts : [],
    tasks,
    taskCount: p.tasks.length,
    unchangedTasksAfter: 0,
    unchangedBefore,
  };
}

function diffPlay(a: PlannedPlay, b: PlannedPlay, moved: boolean, tally: Tally, unchangedBefore: number): PlayChange | undefined {
  const fields = playFields(a, b);
  const ha = new Set(a.hosts);
  const hb = new Set(b.hosts);
  const hostsAdded = b.hosts.filter((h) => !ha.has(h));
  const hostsRemoved = a.hosts.filter((h) => !hb.has(h));
  const { tasks, unchangedAfter } = diffTasks(a.tasks, b.tasks, tally);
  if (!fields.length && !hostsAdded.length && !hostsRemoved.length && !tasks.length && !moved) return undefined;
  for (const h of [...hostsAdded, ...hostsRemoved]) tally.hosts.add(h);
  tally.settings += fields.length;
  tally.plays.modified++;
  if (moved) tally.moved++;
  return {
    index: b.index,
    name: b.name,
    status: 'modified',
    ...(moved ? { moved: true } : {}),
    fields,
    hostsAdded,
    hostsRemoved,
    tasks,
    taskCount: b.tasks.length,
    unchangedTasksAfter: unchangedAfter,
    unchangedBefore,
  };
}

function connectionChanges(a: Plan, b: Plan): HostChange[] {
  const out: HostChange[] = [];
  for (const host of Object.keys(b.hosts).sort()) {
    const x = a.hosts[host];
    const y = b.hosts[host];
    if (!x || !y) continue;
    const fields = collectFields([
      ['address', x.address, y.address],
      ['ssh user', x.ssh.user, y.ssh.user],
      ['ssh port', String(x.ssh.port), String(y.ssh.port)],
      ['identity file', x.ssh.identityFile ?? '', y.ssh.identityFile ?? ''],
      ['known_hosts', x.ssh.knownHosts, y.ssh.knownHosts],
      ['jump', x.ssh.jump ?? '', y.ssh.jump ?? ''],
      ['host key checking', x.ssh.hostKeyChecking, y.ssh.hostKeyChecking],
      ['connect timeout', `${x.ssh.connectTimeoutSec}s`, `${y.ssh.connectTimeoutSec}s`],
      ['keepalive', `${x.ssh.keepaliveSec}s`, `${y.ssh.keepaliveSec}s`],
    ]);
    if (fields.length) out.push({ host, fields });
  }
  return out;
}

function side(p: Plan, source: string): SideInfo {
  return { source, playbook: p.playbook, inventory: p.inventory, cluster: p.cluster, runbook: p.runbook, inputs: p.inputs };
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export function diffPlans(a: Plan, b: Plan, sources: DiffSources): PlanDiff {
  interned.clear();
  const zero = (): DiffCounts => ({ added: 0, removed: 0, modified: 0 });
  const tally: Tally = { steps: zero(), tasks: zero(), plays: zero(), hosts: new Set(), settings: 0, moved: 0 };
  const planFields = collectFields([
    ['cluster', a.cluster, b.cluster],
    ['limit', a.limit ?? '', b.limit ?? ''],
    ['destructive', yesNo(a.destructive), yesNo(b.destructive)],
    ['secret variables', [...a.secretVars].sort().join(', '), [...b.secretVars].sort().join(', ')],
  ]);
  tally.settings += planFields.length;
  const connections = connectionChanges(a, b);
  for (const c of connections) {
    tally.hosts.add(c.host);
    tally.settings += c.fields.length;
  }

  const plays: PlayChange[] = [];
  let unchanged = 0;
  for (const al of align(keysOf(a.plays.map((p) => p.name)), keysOf(b.plays.map((p) => p.name)))) {
    let change: PlayChange | undefined;
    if (al.kind === 'added') {
      const p = b.plays[al.b];
      if (p) change = wholePlay('added', p, tally, unchanged);
    } else if (al.kind === 'removed') {
      const p = a.plays[al.a];
      if (p) change = wholePlay('removed', p, tally, unchanged);
    } else {
      const pa = a.plays[al.a];
      const pb = b.plays[al.b];
      if (pa && pb) change = diffPlay(pa, pb, al.moved, tally, unchanged);
    }
    if (change) {
      plays.push(change);
      unchanged = 0;
    } else unchanged++;
  }

  const changed = planFields.length > 0 || connections.length > 0 || plays.length > 0;
  const name = basename(b.playbook).replace(/\.ya?ml$/, '');
  const cluster = a.cluster === b.cluster ? b.cluster : `${a.cluster} → ${b.cluster}`;
  const hosts = [...tally.hosts].filter((h) => h !== 'localhost').sort(byName);
  const s = tally.steps;
  const stepCount = s.added + s.removed + s.modified;
  let line = `${name} on ${cluster}: no changes`;
  if (changed) {
    const detail = [s.added ? `${s.added} added` : '', s.removed ? `${s.removed} removed` : '', s.modified ? `${s.modified} modified` : ''].filter(Boolean);
    const parts: string[] = [];
    if (stepCount) parts.push(`${plural(hosts.length, 'host')}, ${plural(stepCount, 'step')} changed (${detail.join(', ')})`);
    if (tally.settings) parts.push(`${plural(tally.settings, 'setting')} changed${!stepCount && hosts.length ? ` on ${plural(hosts.length, 'host')}` : ''}`);
    if (tally.moved) parts.push(`${tally.moved} moved`);
    line = `${name} on ${cluster}: ${parts.join('; ')}`;
  }
  interned.clear();
  return {
    format: DIFF_FORMAT,
    version: DIFF_VERSION,
    changed,
    old: side(a, sources.old),
    new: side(b, sources.new),
    summary: { playbook: name, cluster, hosts, steps: tally.steps, tasks: tally.tasks, plays: tally.plays, settings: tally.settings, line },
    plan: planFields,
    connections,
    plays,
    playCount: b.plays.length,
    unchangedPlaysAfter: unchanged,
  };
}
