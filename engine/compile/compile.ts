// compile: (Playbook, Inventory, options) → Plan. Pure: no network, no clock, no randomness.
// Every step for every host, rendered; run-time values stay ⟨placeholders⟩. Problems become
// Diagnostics at the playbook position they come from (undefined variables, unknown hosts, …).
import { controllerPath } from '../load/paths.js';
import { diag, type Diagnostic } from '../model/diagnostics.js';
import { PLAN_FORMAT, PLAN_VERSION, jsonText, type Action, type Host, type Inventory, type Json, type JsonObject, type Plan, type PlanInput, type PlannedPlay, type PlannedTask, type Playbook, type Step, type Task } from '../model/types.js';
import { readFileSync } from 'node:fs';
import type { Source, PathSeg } from '../load/source.js';
import { locate, sha256 } from '../load/source.js';
import { posInScalar } from '../load/source.js';
import { getModule } from '../modules/registry.js';
import { ArgError } from '../modules/module.js';
import { argPattern, schemaDiagnostics, skipStringsWith } from '../validate/schema.js';
import { evalCondition } from '../template/condition-eval.js';
import { conditionRefs, definedTests, parseCondition, printCondition } from '../template/conditions.js';
import { resolvePath } from '../template/runtime.js';
import { TemplateError, compileTemplate, hasTemplate, renderTemplate } from '../template/env.js';
import { placeholdersIn } from '../template/runtime.js';
import { batches, resolvePattern } from './hosts.js';
import { hostContext } from './context.js';

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

/**
 * Renders of templates that read only host-independent names (cluster facts, groups, run-time
 * values, extra vars) are the same on every host: render them once. On a 1,000-host plan this
 * turns tens of thousands of Handlebars calls into a few dozen.
 */
class SharedRenders {
  private readonly rendered = new Map<string, string>();
  constructor(private readonly globalRoots: Set<string>) {}
  render(src: string, ctx: Record<string, unknown>, mode: 'shell' | 'plain'): string {
    if (!hasTemplate(src)) return src;
    if (!compileTemplate(src, mode).paths.every((p) => this.globalRoots.has(p.root))) return renderTemplate(src, ctx, mode);
    const key = `${mode}\u0000${src}`;
    const hit = this.rendered.get(key);
    if (hit !== undefined) return hit;
    const out = renderTemplate(src, ctx, mode);
    this.rendered.set(key, out);
    return out;
  }
  /** A new run-time name (register, set_fact) can change what a shared name means. */
  addGlobal(name: string): void {
    this.globalRoots.add(name);
    this.rendered.clear();
  }
}

function renderDeep(v: Json, ctx: Record<string, unknown>, mode: 'shell' | 'plain', path: string, onError: (e: TemplateError, path: string) => void, shared?: SharedRenders): Json {
  if (typeof v === 'string') {
    try {
      return shared ? shared.render(v, ctx, mode) : renderTemplate(v, ctx, mode);
    } catch (e) {
      if (e instanceof TemplateError) {
        onError(e, path);
        return v;
      }
      throw e;
    }
  }
  if (Array.isArray(v)) return v.map((x, i) => renderDeep(x, ctx, mode, `${path}/${i}`, onError, shared));
  if (v && typeof v === 'object') {
    const out: JsonObject = {};
    for (const [k, x] of Object.entries(v)) out[k] = renderDeep(x, ctx, mode, `${path}/${k}`, onError, shared);
    return out;
  }
  return v;
}

/** A variable is defined when the context has it as its own key (`constructor`, `toString` are not variables). */
function own(ctx: Record<string, unknown>, name: string): boolean {
  return Object.prototype.hasOwnProperty.call(ctx, name);
}

function rawAt(data: Json, path: PathSeg[]): unknown {
  let v: unknown = data;
  for (const s of path) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[String(s)] : undefined;
  return v;
}

function forEachString(v: unknown, fn: (s: string) => void): void {
  if (typeof v === 'string') fn(v);
  else if (Array.isArray(v)) v.forEach((x) => forEachString(x, fn));
  else if (v && typeof v === 'object') Object.values(v).forEach((x) => forEachString(x, fn));
}

/**
 * Arguments known only at run time (⟨…⟩) whose schema has a pattern: checked by the step itself,
 * before its commands, so a registered value meets the same rule a plan-time value does.
 */
function runtimeArgChecks(schema: string, args: JsonObject): Action[] {
  const out: Action[] = [];
  for (const [k, v] of Object.entries(args)) {
    // run.id and run.timestamp have a fixed shape (runbook makes them): only other values need a check.
    if (typeof v === 'string' && placeholdersIn(v).some((p) => p !== 'run.id' && p !== 'run.timestamp') && argPattern(schema, k)) out.push({ kind: 'derive', fn: 'check_arg', args: [schema, k, v], bind: `checked_${k}` });
  }
  return out;
}

export function compile(pb: Playbook, pbSrc: Source, inv: Inventory, opts: CompileOptions): { plan?: Plan; diagnostics: Diagnostic[] } {
  const out = new Collector();
  const allRegistered = new Map<string, number>();
  pb.plays.forEach((p) => p.tasks.forEach((t) => t.register && !allRegistered.has(t.register) && allRegistered.set(t.register, t.src.line)));
  const runtimeNames = new Set<string>();
  const shared = new SharedRenders(new Set(['cluster', 'groups', 'hosts', 'hostvars', 'run', 'secrets', ...Object.keys(opts.extraVars)]));
  const staticFacts = new Map<string, JsonObject>(); // host → static set_fact values
  const usedHosts = new Set<string>();
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
    for (const u of r.unknown) out.add(diag('invalid-limit', `--limit names "${u}", which is neither a host nor a group`, { file: '--limit', line: 1, col: 1 }));
    limitHosts = new Set(r.hosts);
  }

  const templateError = (e: TemplateError, scalar: PathSeg[], runtime: Set<string>): void => {
    const at = posInScalar(pbSrc, scalar, e.line, e.col);
    if (e.kind === 'undefined-variable') {
      const name = (e.variable ?? '').split('.')[0] ?? '';
      const line = allRegistered.get(name);
      if (line !== undefined && !runtime.has(name)) {
        out.add(diag('register-before-set', `"${name}" is used before the task that registers it (line ${line})`, at, { hint: 'move this task after the one with `register: ' + name + '`' }));
        return;
      }
    }
    out.add(diag(e.kind, e.message, at, e.hint ? { hint: e.hint } : {}));
  };

  const checkConditionRefs = (conds: string[], key: string, base: PathSeg[], raw: unknown, ctx: Record<string, unknown>, runtime: Set<string>): void => {
    conds.forEach((c, i) => {
      const expr = parseCondition(c);
      const guarded = definedTests(expr);
      for (const r of conditionRefs(expr)) {
        if (own(ctx, r.root) || guarded.has(r.root) || r.root === '_') continue;
        // A `when:` list has one scalar per condition; the raw value comes from the playbook source.
        const rawConds = raw ?? rawAt(pbSrc.data, [...base, key]);
        const at = posInScalar(pbSrc, Array.isArray(rawConds) ? [...base, key, i] : [...base, key], 1, r.at + 1);
        const line = allRegistered.get(r.root);
        if (line !== undefined && !runtime.has(r.root)) out.add(diag('register-before-set', `"${r.root}" is used before the task that registers it (line ${line})`, at, { length: r.root.length }));
        else out.add(diag('undefined-variable', `undefined variable "${r.root}" in ${key}`, at, { length: r.root.length, hint: 'define it in vars, register it in an earlier task, or guard with "is defined"' }));
      }
    });
  };

  const plays: PlannedPlay[] = [];
  pb.plays.forEach((play, pi) => {
    const resolved = resolvePattern(inv, play.hosts);
    for (const u of resolved.unknown) {
      const at = locate(pbSrc, [pi, 'hosts']);
      out.add(diag(u in inv.hosts ? 'unknown-host' : 'unknown-group', `hosts: "${u}" is neither a group nor a host of ${inv.file}`, at, { length: at.length, hint: `groups: ${Object.keys(inv.groups).join(', ')}` }));
    }
    const hosts = resolved.hosts.filter((h) => !limitHosts || limitHosts.has(h) || h === 'localhost');
    hosts.forEach((h) => usedHosts.add(h));

    // Play vars are templates, rendered per host in order (a var may use the ones before it).
    const ctxCache = new Map<string, Record<string, unknown>>();
    const baseCtx = (hostName: string): Record<string, unknown> => {
      const hit = ctxCache.get(hostName);
      if (hit) return hit;
      const host: Host | undefined = inv.hosts[hostName];
      const vars: JsonObject = {};
      const ctx = hostContext(inv, host, { ...(staticFacts.get(hostName) ?? {}) }, opts.extraVars, runtimeNames);
      for (const [k, v] of Object.entries(play.vars)) {
        vars[k] = renderDeep(v, { ...ctx, ...vars }, 'plain', '', (e) => templateError(e, [pi, 'vars', k], runtimeNames), shared);
      }
      const full = hostContext(inv, host, { ...(staticFacts.get(hostName) ?? {}), ...vars }, opts.extraVars, runtimeNames);
      ctxCache.set(hostName, full);
      return full;
    };

    const tasks: PlannedTask[] = [];
    play.tasks.forEach((task: Task, ti) => {
      if (opts.tags && opts.tags.length && !task.tags.some((t) => opts.tags?.includes(t))) return;
      const mod = getModule(task.module);
      if (!mod) return;
      const base: PathSeg[] = [pi, 'tasks', ti];
      const taskHosts = task.runOnce ? hosts.slice(0, 1) : hosts;
      const steps: Step[] = [];
      let result: Json = null;
      const runtimeForUntil = new Set(runtimeNames);
      if (task.register) runtimeForUntil.add(task.register);
      let readOnly = false;
      const templated = JSON.stringify(task.args ?? null).includes('{{');
      for (const hostName of taskHosts) {
        const ctx = baseCtx(hostName);
        // Conditions: names must exist; conditions over static values are decided now.
        checkConditionRefs(task.when, 'when', base, undefined, ctx, runtimeNames);
        const untilCtx = task.register ? { ...ctx, [task.register]: true } : ctx;
        checkConditionRefs(task.until, 'until', base, undefined, untilCtx, runtimeForUntil);
        checkConditionRefs(task.changedWhen ?? [], 'changed_when', base, undefined, untilCtx, runtimeForUntil);
        checkConditionRefs(task.failedWhen ?? [], 'failed_when', base, undefined, untilCtx, runtimeForUntil);
        if (task.module === 'assert') {
          const that = ((task.args ?? {}) as JsonObject).that;
          checkConditionRefs(Array.isArray(that) ? that.map(jsonText) : [jsonText(that)], 'that', [...base, 'assert'], that, ctx, runtimeNames);
        }
        const stepId = `${pi + 1}.${ti + 1}@${hostName}`;
        let skip: string | undefined;
        const staticWhen = task.when.filter((c) => conditionRefs(parseCondition(c)).every((r) => !runtimeNames.has(r.root) && own(ctx, r.root)));
        for (const c of staticWhen) {
          try {
            if (!evalCondition(c, (root) => (own(ctx, root) ? ctx[root] : undefined))) {
              skip = `when: ${c}`;
              break;
            }
          } catch {
            // Undefined names were reported above.
          }
        }
        let target = hostName;
        if (task.delegateTo) {
          try {
            target = renderTemplate(task.delegateTo, ctx, 'plain');
          } catch (e) {
            if (e instanceof TemplateError) templateError(e, [...base, 'delegate_to'], runtimeNames);
            else throw e;
          }
          // A run-time target (⟨!chosen.host⟩) is resolved by the executor; it must name a host of this play.
          if (target.startsWith('⟨')) hosts.forEach((h) => usedHosts.add(h));
          else if (target !== 'localhost' && !(target in inv.hosts)) {
            const at = locate(pbSrc, [...base, 'delegate_to']);
            out.add(diag('unknown-host', `delegate_to: "${target}" is not a host of ${inv.file}`, at, { length: at.length }));
          }
          usedHosts.add(target);
        }
        if (skip) {
          steps.push({ id: stepId, host: hostName, target, actions: [], skip, needs: [] });
          continue;
        }
        // Render args: command strings in shell mode (values quoted), the rest plain (modules quote).
        const rawArgs = (task.args ?? {}) as JsonObject;
        const args: JsonObject = {};
        let failed = false;
        for (const [k, v] of Object.entries(rawArgs)) {
          if (mod.rawArgs?.includes(k)) {
            args[k] = v;
            continue;
          }
          args[k] = renderDeep(v, ctx, mod.argModes?.[k] ?? 'plain', `/${k}`, (e, p) => {
            failed = true;
            const rel = p.split('/').slice(1).map((s) => (/^\d+$/.test(s) ? Number(s) : s));
            // Shorthand args (`shell: echo {{x}}`) have one position: the string itself.
            templateError(e, task.argSrc[p] ? [...base, task.module, ...rel] : [...base, task.module], runtimeNames);
          }, shared);
        }
        if (failed) continue;
        // Rendered values are checked against the module's schema again (a member name, a URL, a path
        // without a leading dash): inventory and -e values are refused here, before anything runs.
        // Values known only at run time (⟨…⟩) are checked when the step runs.
        if (templated) {
          // A template that rendered empty is almost always a variable not given: say that, not "does not match".
          const empty = Object.keys(args).filter((k) => args[k] === '' && typeof rawArgs[k] === 'string' && rawArgs[k].includes('{{'));
          for (const k of empty) {
            const at = locate(pbSrc, task.argSrc[`/${k}`] ? [...base, task.module, k] : [...base, task.module]);
            out.add(diag('empty-value', `${task.module} ${k}: "${jsonText(rawArgs[k])}" rendered empty`, at, { length: at.length, hint: 'a variable it uses is empty: pass it with -e NAME=VALUE' }));
          }
          const skipRuntime = skipStringsWith(args, '⟨');
          const bad = schemaDiagnostics(pbSrc, `modules/${mod.schema}`, args, { prefix: [...base, task.module], skip: (p) => skipRuntime(p) || empty.some((k) => p === `/${k}`) });
          if (empty.length) continue;
          for (const d of bad) out.add({ ...d, message: `${d.message} (after rendering)`, hint: d.hint ?? 'the value comes from a variable (inventory vars, play vars or -e): fix the value' });
          if (bad.length) continue;
        }
        readOnly = task.checkMode ?? (typeof mod.readOnly === 'function' ? mod.readOnly(args) : mod.readOnly);
        let actions: Action[];
        try {
          const planned = mod.plan(args, {
            host: inv.hosts[hostName] ?? ({ name: 'localhost', address: '127.0.0.1', groups: [], vars: {}, varSources: {} } as unknown as Host),
            inventory: inv,
            vars: ctx,
            playbookDir: opts.playbookDir,
            readInput,
            ...(task.register ? { register: task.register } : {}),
          });
          actions = [...runtimeArgChecks(mod.schema, args), ...planned.actions];
          if (result === null && planned.result !== undefined) result = planned.result;
        } catch (e) {
          if (e instanceof TemplateError) {
            templateError(e, [...base, task.module, 'src'], runtimeNames);
            continue;
          }
          if (e instanceof ArgError) {
            const at = task.argSrc[`/${e.arg}`] ? locate(pbSrc, [...base, task.module, e.arg]) : locate(pbSrc, [...base, task.module]);
            out.add(diag('unknown-member', `${task.module} ${e.arg}: ${e.message}`, at, { length: at.length, ...(e.hint ? { hint: e.hint } : {}) }));
            continue;
          }
          const at = locate(pbSrc, [...base, task.module]);
          out.add(diag('module-args', `${task.module}: ${e instanceof Error ? e.message : String(e)}`, at, { length: at.length }));
          continue;
        }
        const needs = new Set<string>();
        forEachString(actions, (s) => {
          if (s.includes('⟨')) for (const n of placeholdersIn(s)) if (!n.startsWith('_.')) needs.add(n);
        });
        const step: Step = { id: stepId, host: hostName, target, actions, needs: [...needs].sort() };
        // Run-time conditions get this host's static values as literals: the executor knows only run-time names.
        const runtimeHere = task.register ? runtimeForUntil : runtimeNames;
        // Fill a condition's static names with this host's values as literals (run-time names stay).
        const bakeOne = (c: string, names: Set<string>): string => {
          if (conditionRefs(parseCondition(c)).every((r) => names.has(r.root) || r.root === '_')) return c;
          return printCondition(parseCondition(c), (p) => (names.has(p.root) || p.root === '_' || !own(ctx, p.root) ? { known: false } : { known: true, value: resolvePath(ctx, [p.root, ...p.rest.map(String)].join('.')) }));
        };
        const bake = (list: string[] | undefined, names: Set<string>): string[] | undefined => {
          if (!list) return undefined;
          const runtime = list.filter((c) => conditionRefs(parseCondition(c)).some((r) => names.has(r.root)));
          const baked = runtime.map((c) => bakeOne(c, names));
          return baked.some((b, k) => b !== runtime[k]) ? baked : undefined;
        };
        // assert conditions run at run time: give them this host's static values too.
        for (const a of actions) if (a.kind === 'check') a.that = a.that.map((c) => bakeOne(c, runtimeNames));
        let w = bake(task.when, runtimeNames);
        // A baked condition whose static part already decides it (`"a" != "a" and x.y`) is settled now.
        if (w) {
          const decided = w.map((c) => {
            try {
              return evalCondition(c, () => {
                throw new Error('run-time');
              });
            } catch {
              return undefined;
            }
          });
          const falseAt = decided.indexOf(false);
          if (falseAt >= 0) {
            steps.push({ id: stepId, host: hostName, target, actions: [], skip: `when: ${task.when.find((c) => conditionRefs(parseCondition(c)).some((r) => runtimeNames.has(r.root))) ?? ''}`, needs: [] });
            continue;
          }
          w = w.filter((_, i) => decided[i] !== true);
          if (w.length === 0) w = undefined;
        }
        const u = bake(task.until, runtimeHere);
        const cw = bake(task.changedWhen, runtimeHere);
        const fw = bake(task.failedWhen, runtimeHere);
        if (w) step.when = w;
        if (u) step.until = u;
        if (cw) step.changedWhen = cw;
        if (fw) step.failedWhen = fw;
        steps.push(step);
        if (task.module === 'set_fact') {
          // Static facts become plan-time variables; facts that need run-time values stay placeholders.
          const facts = args;
          if (needs.size === 0) staticFacts.set(hostName, { ...(staticFacts.get(hostName) ?? {}), ...facts });
        }
      }
      if (task.module === 'set_fact') {
        const dynamic = steps.some((s) => s.needs.length > 0);
        if (dynamic) Object.keys((task.args ?? {}) as JsonObject).forEach((k) => (runtimeNames.add(k), shared.addGlobal(k)));
        ctxCache.clear();
      }
      if (task.register) {
        runtimeNames.add(task.register);
        shared.addGlobal(task.register);
        ctxCache.clear();
      }
      tasks.push({
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
        ...(task.changedWhen ? { changedWhen: task.changedWhen } : {}),
        ...(task.failedWhen ? { failedWhen: task.failedWhen } : {}),
        tags: task.tags,
        become: task.become,
        checkMode: readOnly,
        steps,
        src: task.src,
      });
    });
    plays.push({
      index: pi + 1,
      name: play.name,
      pattern: play.hosts,
      hosts,
      batches: batches(hosts.filter((h) => h !== 'localhost'), play.serial).concat(hosts.includes('localhost') ? [['localhost']] : []),
      anyErrorsFatal: play.anyErrorsFatal,
      ...(play.maxFailPercentage !== undefined ? { maxFailPercentage: play.maxFailPercentage } : {}),
      destructive: play.destructive,
      tasks,
    });
  });

  if (out.diagnostics.length) return { diagnostics: out.diagnostics };
  const hostsTable: Plan['hosts'] = {};
  for (const name of [...usedHosts].sort()) {
    const h = inv.hosts[name];
    if (!h) continue;
    hostsTable[name] = {
      address: h.address,
      ssh: { ...h.ssh, knownHosts: controllerPath(h.ssh.knownHosts), ...(h.ssh.identityFile ? { identityFile: controllerPath(h.ssh.identityFile) } : {}) },
    };
  }
  const plan: Plan = {
    format: PLAN_FORMAT,
    version: PLAN_VERSION,
    runbook: opts.runbookVersion,
    playbook: pb.file,
    inventory: inv.file,
    cluster: inv.cluster.name,
    ...(opts.limit ? { limit: opts.limit } : {}),
    ...(opts.extraVarArgs?.length ? { extraVars: opts.extraVarArgs } : {}),
    ...(opts.tags?.length ? { tags: opts.tags } : {}),
    inputs: inputs.sort((a, b) => a.role.localeCompare(b.role) || a.path.localeCompare(b.path)),
    hosts: hostsTable,
    secretVars: inv.secretVars,
    destructive: plays.some((p) => p.destructive),
    plays,
  };
  return { plan, diagnostics: [] };
}
