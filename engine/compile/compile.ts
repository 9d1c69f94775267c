// compile: (Playbook, Inventory, options) → Plan. Pure: no network, no clock, no randomness.
// Every step for every host, rendered; run-time values stay ⟨placeholders⟩. Problems become
// Diagnostics at the playbook position they come from (undefined variables, unknown hosts, …).
//
// The steps, in order: compile → compilePlay (hosts, play vars per host) → compileTask (its steps,
// then the names it makes known) → compileStep (conditions, target, args rendered and re-checked,
// the module's actions, conditions baked) → assemblePlan.
import { controllerPath } from '../load/paths.js';
import { diag, type Diagnostic } from '../model/diagnostics.js';
import {
  PLAN_FORMAT,
  PLAN_VERSION,
  jsonText,
  type Action,
  type Host,
  type Inventory,
  type Json,
  type JsonObject,
  type Plan,
  type PlanInput,
  type PlannedPlay,
  type PlannedTask,
  type Play,
  type Playbook,
  type Step,
  type Task,
} from '../model/types.js';
import { readFileSync } from 'node:fs';
import type { Source, PathSeg } from '../load/source.js';
import { locate, sha256 } from '../load/source.js';
import { getModule } from '../modules/registry.js';
import { ArgError, type ModuleDef } from '../modules/module.js';
import { checkRenderedArgs, runtimeArgChecks } from './args.js';
import { evalCondition } from '../template/condition-eval.js';
import { conditionRefs, parseCondition } from '../template/conditions.js';
import { TemplateError, renderTemplate } from '../template/env.js';
import { placeholdersIn } from '../template/runtime.js';
import { batches, resolvePattern } from './hosts.js';
import { hostContext } from './context.js';
import { SharedRenders, forEachString, own, renderDeep } from './render.js';
import { checkConditionRefs, templateError } from './diagnose.js';
import { bakeConditions } from './bake.js';
import { QuorumNotes, quorumTimeline } from './quorum.js';
import { missingVars } from './required.js';

export interface CompileOptions {
  limit?: string;
  extraVars: JsonObject;
  playbookDir: string;
  runbookVersion: string;
  inputs: PlanInput[];
  /** Only tasks with one of these tags (empty: all). */
  tags?: string[];
  /** The -e arguments as given, recorded in the plan so a saved plan can be compiled again. */
  extraVarArgs?: string[];
  /** How controller files read while compiling (template sources) are read; default: the file system. */
  readFile?: (path: string) => string;
}

export const DEFAULT_TIMEOUT_SEC = 600;

class Collector {
  readonly diagnostics: Diagnostic[] = [];
  private seen = new Set<string>();
  add(d: Diagnostic): void {
    const key = `${d.file}:${d.line}:${d.col}:${d.code}:${d.message}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.diagnostics.push(d);
  }
}

/** What every step of one compile shares. */
interface State {
  pb: Playbook;
  src: Source;
  inv: Inventory;
  opts: CompileOptions;
  out: Collector;
  /** Register name → line of the first task that registers it. */
  allRegistered: Map<string, number>;
  /** Names known only at run time so far (registered results, dynamic set_fact names). */
  runtimeNames: Set<string>;
  shared: SharedRenders;
  /** host → static set_fact values */
  staticFacts: Map<string, JsonObject>;
  usedHosts: Set<string>;
  inputs: PlanInput[];
  readInput: (path: string) => string;
  limitHosts?: Set<string>;
  /** What each step does to the membership, for the quorum timeline. */
  quorum: QuorumNotes;
}

/** One play being compiled: its hosts and each host's template context (cleared when names change). */
interface PlayCtx {
  play: Play;
  pi: number;
  hosts: string[];
  ctxCache: Map<string, Record<string, unknown>>;
}

export function compile(pb: Playbook, pbSrc: Source, inv: Inventory, opts: CompileOptions): { plan?: Plan; diagnostics: Diagnostic[] } {
  const st = newState(pb, pbSrc, inv, opts);
  const missing = pb.plays.flatMap((play, pi) => missingVars(play, pi, pbSrc, inv, opts.extraVars));
  if (missing.length) return { diagnostics: missing };
  const plays = pb.plays.map((play, pi) => compilePlay(st, play, pi));
  for (const d of quorumTimeline(plays, st.quorum, inv, pbSrc, (pi) => pb.plays[pi]?.quorumLost === true)) st.out.add(d);
  if (st.out.diagnostics.length) return { diagnostics: st.out.diagnostics };
  return { plan: assemblePlan(st, plays), diagnostics: [] };
}

function newState(pb: Playbook, src: Source, inv: Inventory, opts: CompileOptions): State {
  const out = new Collector();
  const allRegistered = new Map<string, number>();
  pb.plays.forEach((p) => p.tasks.forEach((t) => t.register && !allRegistered.has(t.register) && allRegistered.set(t.register, t.src.line)));
  const inputs = [...opts.inputs];
  // Files read while compiling (template sources) become inputs too: read once, hashed once.
  const readCache = new Map<string, string>();
  const readInput = (path: string): string => {
    const hit = readCache.get(path);
    if (hit !== undefined) return hit;
    const text = (opts.readFile ?? ((p: string) => readFileSync(p, 'utf8')))(path);
    readCache.set(path, text);
    const shown = controllerPath(path);
    if (!inputs.some((i) => i.role === 'file' && i.path === shown)) inputs.push({ role: 'file', path: shown, sha256: sha256(text) });
    return text;
  };
  let limitHosts: Set<string> | undefined;
  if (opts.limit) {
    const r = resolvePattern(inv, opts.limit);
    for (const u of r.unknown)
      out.add(diag('invalid-limit', `--limit names "${u}", which is neither a host nor a group`, { file: '--limit', line: 1, col: 1 }));
    limitHosts = new Set(r.hosts);
  }
  return {
    pb,
    src,
    inv,
    opts,
    out,
    allRegistered,
    runtimeNames: new Set<string>(),
    shared: new SharedRenders(new Set(['cluster', 'groups', 'hosts', 'hostvars', 'run', 'secrets', ...Object.keys(opts.extraVars)])),
    staticFacts: new Map(),
    usedHosts: new Set(),
    inputs,
    readInput,
    quorum: new QuorumNotes(),
    ...(limitHosts ? { limitHosts } : {}),
  };
}

function compilePlay(st: State, play: Play, pi: number): PlannedPlay {
  const resolved = resolvePattern(st.inv, play.hosts);
  for (const u of resolved.unknown) {
    const at = locate(st.src, [pi, 'hosts']);
    st.out.add(
      diag(u in st.inv.hosts ? 'unknown-host' : 'unknown-group', `hosts: "${u}" is neither a group nor a host of ${st.inv.file}`, at, {
        length: at.length,
        hint: `groups: ${Object.keys(st.inv.groups).join(', ')}`,
      }),
    );
  }
  const hosts = resolved.hosts.filter((h) => !st.limitHosts || st.limitHosts.has(h) || h === 'localhost');
  hosts.forEach((h) => st.usedHosts.add(h));
  const pc: PlayCtx = { play, pi, hosts, ctxCache: new Map() };
  const tasks: PlannedTask[] = [];
  play.tasks.forEach((task, ti) => {
    const t = compileTask(st, pc, task, ti);
    if (t) tasks.push(t);
  });
  return {
    index: pi + 1,
    name: play.name,
    pattern: play.hosts,
    hosts,
    batches: batches(
      hosts.filter((h) => h !== 'localhost'),
      play.serial,
    ).concat(hosts.includes('localhost') ? [['localhost']] : []),
    anyErrorsFatal: play.anyErrorsFatal,
    ...(play.maxFailPercentage !== undefined ? { maxFailPercentage: play.maxFailPercentage } : {}),
    destructive: play.destructive,
    ...(play.always ? { always: true } : {}),
    tasks,
  };
}

/** A host's template context in this play. Play vars are templates, rendered per host in order (a var may use the ones before it). */
function baseCtx(st: State, pc: PlayCtx, hostName: string): Record<string, unknown> {
  const hit = pc.ctxCache.get(hostName);
  if (hit) return hit;
  const host: Host | undefined = st.inv.hosts[hostName];
  const vars: JsonObject = {};
  const ctx = hostContext(st.inv, host, { ...(st.staticFacts.get(hostName) ?? {}) }, st.opts.extraVars, st.runtimeNames);
  for (const [k, v] of Object.entries(pc.play.vars)) {
    vars[k] = renderDeep(v, { ...ctx, ...vars }, 'plain', '', (e) => templateError(st, e, [pc.pi, 'vars', k], st.runtimeNames), st.shared);
  }
  const full = hostContext(st.inv, host, { ...(st.staticFacts.get(hostName) ?? {}), ...vars }, st.opts.extraVars, st.runtimeNames);
  pc.ctxCache.set(hostName, full);
  return full;
}

/** What one task's compile of one host gives the task: a step (or none), and what it learned. */
interface StepOutcome {
  step?: Step;
  /** The module's readOnly for the rendered args (set once args rendered and checked). */
  readOnly?: boolean;
  /** What `register` stores, from the module's plan. */
  result?: Json;
}

function compileTask(st: State, pc: PlayCtx, task: Task, ti: number): PlannedTask | undefined {
  const { opts, runtimeNames, shared } = st;
  if (opts.tags && opts.tags.length && !task.tags.some((t) => opts.tags?.includes(t))) return undefined;
  const mod = getModule(task.module);
  if (!mod) return undefined;
  const taskHosts = task.runOnce ? pc.hosts.slice(0, 1) : pc.hosts;
  const steps: Step[] = [];
  let result: Json = null;
  const runtimeForUntil = new Set(runtimeNames);
  if (task.register) runtimeForUntil.add(task.register);
  let readOnly = false;
  const templated = JSON.stringify(task.args ?? null).includes('{{');
  for (const hostName of taskHosts) {
    const r = compileStep(st, pc, { task, ti, mod, hostName, runtimeForUntil, templated });
    if (r.readOnly !== undefined) readOnly = r.readOnly;
    if (result === null && r.result !== undefined) result = r.result;
    if (r.step) steps.push(r.step);
  }
  if (task.module === 'set_fact') {
    const dynamic = steps.some((s) => s.needs.length > 0);
    if (dynamic) Object.keys((task.args ?? {}) as JsonObject).forEach((k) => (runtimeNames.add(k), shared.addGlobal(k)));
    pc.ctxCache.clear();
  }
  if (task.register) {
    runtimeNames.add(task.register);
    shared.addGlobal(task.register);
    pc.ctxCache.clear();
  }
  return {
    index: ti + 1,
    name: task.name,
    module: task.module,
    result,
    when: task.when.filter((c) => conditionRefs(parseCondition(c)).some((r) => runtimeNames.has(r.root) && r.root !== task.register)),
    ...(task.register ? { register: task.register } : {}),
    runOnce: task.runOnce,
    ...(task.delegateTo ? { delegateTo: task.delegateTo } : {}),
    retries: task.retries,
    delaySec: task.delaySec,
    until: task.until,
    timeoutSec: task.timeoutSec ?? DEFAULT_TIMEOUT_SEC,
    ignoreErrors: task.ignoreErrors,
    ...(task.ignoreUnreachable ? { ignoreUnreachable: true } : {}),
    ...(task.changedWhen ? { changedWhen: task.changedWhen } : {}),
    ...(task.failedWhen ? { failedWhen: task.failedWhen } : {}),
    tags: task.tags,
    become: task.become,
    checkMode: readOnly,
    steps,
    src: task.src,
  };
}

interface StepInput {
  task: Task;
  ti: number;
  mod: ModuleDef;
  hostName: string;
  runtimeForUntil: Set<string>;
  templated: boolean;
}

function compileStep(st: State, pc: PlayCtx, si: StepInput): StepOutcome {
  const { task, ti, mod, hostName } = si;
  const base: PathSeg[] = [pc.pi, 'tasks', ti];
  const ctx = baseCtx(st, pc, hostName);
  checkTaskConditions(st, si, base, ctx);
  const stepId = `${pc.pi + 1}.${ti + 1}@${hostName}`;
  const skip = staticSkip(st, task, ctx);
  const target = resolveTarget(st, pc, task, base, ctx, hostName);
  if (skip) return { step: { id: stepId, host: hostName, target, actions: [], skip, needs: [] } };
  const rawArgs = (task.args ?? {}) as JsonObject;
  const args = renderArgs(st, task, mod, base, ctx, rawArgs);
  if (!args) return {};
  if (si.templated && !checkRenderedArgs(st, task, mod, base, rawArgs, args)) return {};
  const readOnly = task.checkMode ?? (typeof mod.readOnly === 'function' ? mod.readOnly(args) : mod.readOnly);
  const planned = planActions(st, task, mod, base, ctx, hostName, args);
  if (!planned) return { readOnly };
  const { actions } = planned;
  const needs = new Set<string>();
  forEachString(actions, (s) => {
    if (s.includes('⟨')) for (const n of placeholdersIn(s)) if (!n.startsWith('_.')) needs.add(n);
  });
  const step: Step = { id: stepId, host: hostName, target, actions, needs: [...needs].sort(), ...(planned.intent ? { intent: planned.intent } : {}) };
  const decided = bakeConditions(task, ctx, st.runtimeNames, si.runtimeForUntil, step);
  if (decided === 'skip') {
    return {
      readOnly,
      ...resultOf(planned),
      step: {
        id: stepId,
        host: hostName,
        target,
        actions: [],
        skip: `when: ${task.when.find((c) => conditionRefs(parseCondition(c)).some((r) => st.runtimeNames.has(r.root))) ?? ''}`,
        needs: [],
      },
    };
  }
  st.quorum.note(st.inv, pc.pi, ti, task.module, hostName, target, args);
  if (task.module === 'set_fact' && needs.size === 0) {
    // Static facts become plan-time variables; facts that need run-time values stay placeholders.
    st.staticFacts.set(hostName, { ...(st.staticFacts.get(hostName) ?? {}), ...args });
  }
  return { readOnly, ...resultOf(planned), step };
}

const resultOf = (p: { result?: Json }): { result?: Json } => (p.result !== undefined ? { result: p.result } : {});

/** Conditions: every name they use must exist (or be guarded with "is defined"). */
function checkTaskConditions(st: State, si: StepInput, base: PathSeg[], ctx: Record<string, unknown>): void {
  const { task } = si;
  checkConditionRefs(st, task.when, 'when', base, undefined, ctx, st.runtimeNames);
  const untilCtx = task.register ? { ...ctx, [task.register]: true } : ctx;
  checkConditionRefs(st, task.until, 'until', base, undefined, untilCtx, si.runtimeForUntil);
  checkConditionRefs(st, task.changedWhen ?? [], 'changed_when', base, undefined, untilCtx, si.runtimeForUntil);
  checkConditionRefs(st, task.failedWhen ?? [], 'failed_when', base, undefined, untilCtx, si.runtimeForUntil);
  if (task.module === 'assert') {
    const that = ((task.args ?? {}) as JsonObject).that;
    checkConditionRefs(st, Array.isArray(that) ? that.map(jsonText) : [jsonText(that)], 'that', [...base, 'assert'], that, ctx, st.runtimeNames);
  }
}

/** A `when` over static values only is decided now: the reason to skip, or undefined. */
function staticSkip(st: State, task: Task, ctx: Record<string, unknown>): string | undefined {
  const staticWhen = task.when.filter((c) => conditionRefs(parseCondition(c)).every((r) => !st.runtimeNames.has(r.root) && own(ctx, r.root)));
  for (const c of staticWhen) {
    try {
      if (!evalCondition(c, (root) => (own(ctx, root) ? ctx[root] : undefined))) return `when: ${c}`;
    } catch {
      // Undefined names were reported by checkTaskConditions.
    }
  }
  return undefined;
}

/** Where the step runs: the host, or its rendered delegate_to (which must be a host, or known at run time). */
function resolveTarget(st: State, pc: PlayCtx, task: Task, base: PathSeg[], ctx: Record<string, unknown>, hostName: string): string {
  if (!task.delegateTo) return hostName;
  let target = hostName;
  try {
    target = renderTemplate(task.delegateTo, ctx, 'plain');
  } catch (e) {
    if (e instanceof TemplateError) templateError(st, e, [...base, 'delegate_to'], st.runtimeNames);
    else throw e;
  }
  // A run-time target (⟨!chosen.host⟩) is resolved by the executor; it must name a host of this play.
  if (target.startsWith('⟨')) pc.hosts.forEach((h) => st.usedHosts.add(h));
  else if (target !== 'localhost' && !(target in st.inv.hosts)) {
    const at = locate(st.src, [...base, 'delegate_to']);
    st.out.add(diag('unknown-host', `delegate_to: "${target}" is not a host of ${st.inv.file}`, at, { length: at.length }));
  }
  st.usedHosts.add(target);
  return target;
}

/** Render args: command strings in shell mode (values quoted), the rest plain (modules quote). Undefined on a template error. */
function renderArgs(st: State, task: Task, mod: ModuleDef, base: PathSeg[], ctx: Record<string, unknown>, rawArgs: JsonObject): JsonObject | undefined {
  const args: JsonObject = {};
  let failed = false;
  for (const [k, v] of Object.entries(rawArgs)) {
    if (mod.rawArgs?.includes(k)) {
      args[k] = v;
      continue;
    }
    args[k] = renderDeep(
      v,
      ctx,
      mod.argModes?.[k] ?? 'plain',
      `/${k}`,
      (e, p) => {
        failed = true;
        const rel = p
          .split('/')
          .slice(1)
          .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
        // Shorthand args (`shell: echo {{x}}`) have one position: the string itself.
        templateError(st, e, task.argSrc[p] ? [...base, task.module, ...rel] : [...base, task.module], st.runtimeNames);
      },
      st.shared,
    );
  }
  return failed ? undefined : args;
}

/** The module's actions for these args (with the run-time argument checks first); undefined when it refused them. */
function planActions(
  st: State,
  task: Task,
  mod: ModuleDef,
  base: PathSeg[],
  ctx: Record<string, unknown>,
  hostName: string,
  args: JsonObject,
): { actions: Action[]; result?: Json; intent?: string } | undefined {
  try {
    const pctx = {
      host: st.inv.hosts[hostName] ?? ({ name: 'localhost', address: '127.0.0.1', groups: [], vars: {}, varSources: {} } as unknown as Host),
      inventory: st.inv,
      vars: ctx,
      playbookDir: st.opts.playbookDir,
      readInput: st.readInput,
      ...(task.register ? { register: task.register } : {}),
    };
    const planned = mod.plan(args, pctx);
    // Placeholders read as ⟨name⟩ in an intent: how they will be quoted is the commands' business.
    const intent = mod.intent?.(args, pctx).replace(/⟨!/g, '⟨');
    return {
      actions: [...runtimeArgChecks(mod.schema, args), ...planned.actions],
      ...(planned.result !== undefined ? { result: planned.result } : {}),
      ...(intent ? { intent } : {}),
    };
  } catch (e) {
    if (e instanceof TemplateError) {
      templateError(st, e, [...base, task.module, 'src'], st.runtimeNames);
      return undefined;
    }
    if (e instanceof ArgError) {
      const at = task.argSrc[`/${e.arg}`] ? locate(st.src, [...base, task.module, e.arg]) : locate(st.src, [...base, task.module]);
      st.out.add(diag('unknown-member', `${task.module} ${e.arg}: ${e.message}`, at, { length: at.length, ...(e.hint ? { hint: e.hint } : {}) }));
      return undefined;
    }
    const at = locate(st.src, [...base, task.module]);
    st.out.add(diag('module-args', `${task.module}: ${e instanceof Error ? e.message : String(e)}`, at, { length: at.length }));
    return undefined;
  }
}

function assemblePlan(st: State, plays: PlannedPlay[]): Plan {
  const { inv, opts } = st;
  const hostsTable: Plan['hosts'] = {};
  for (const name of [...st.usedHosts].sort()) {
    const h = inv.hosts[name];
    if (!h) continue;
    hostsTable[name] = {
      address: h.address,
      ssh: { ...h.ssh, knownHosts: controllerPath(h.ssh.knownHosts), ...(h.ssh.identityFile ? { identityFile: controllerPath(h.ssh.identityFile) } : {}) },
    };
  }
  return {
    format: PLAN_FORMAT,
    version: PLAN_VERSION,
    runbook: opts.runbookVersion,
    playbook: st.pb.file,
    inventory: inv.file,
    cluster: inv.cluster.name,
    ...(opts.limit ? { limit: opts.limit } : {}),
    ...(opts.extraVarArgs?.length ? { extraVars: opts.extraVarArgs } : {}),
    ...(opts.tags?.length ? { tags: opts.tags } : {}),
    inputs: st.inputs.sort((a, b) => a.role.localeCompare(b.role) || a.path.localeCompare(b.path)),
    hosts: hostsTable,
    secretVars: inv.secretVars,
    destructive: plays.some((p) => p.destructive),
    plays,
  };
}
