// Playbook: YAML → schema check → typed plays and tasks. Checks that need no inventory happen here:
// exactly one known module per task, module args against the module's schema, condition syntax.
// The module registry sits above validate (modules use inventory facts), so the caller passes
// the catalog in: validate only needs each module's name and its shorthand normalizer.
import { diag, type Diagnostic } from '../model/diagnostics.js';
import { BUILTIN_HINT, builtinNameMessage, isBuiltinName } from '../model/names.js';
import { jsonText, type Json, type Play, type Playbook, type SourceRef, type Task } from '../model/types.js';
import { ConditionError } from '../template/condition-lexer.js';
import { parseCondition } from '../template/conditions.js';
import { misplacedValues, type ShellContext } from '../template/shell-context.js';
import { didYouMean, schemaDiagnostics, skipStringsWith, toPointer } from './schema.js';
import { locate, posInScalar, readYaml, type PathSeg, type Source } from '../load/source.js';
import { INPUT_LIMITS, overLimit } from '../load/limits.js';

export const TASK_KEYWORDS = [
  'name',
  'when',
  'until',
  'changed_when',
  'failed_when',
  'register',
  'run_once',
  'delegate_to',
  'retries',
  'delay',
  'timeout',
  'ignore_errors',
  'ignore_unreachable',
  'tags',
  'become',
  'check_mode',
] as const;
const KEYWORDS = new Set<string>(TASK_KEYWORDS);

type Raw = Record<string, Json | undefined>;

/** What validation needs to know of the modules: names, and how a shorthand form becomes args. */
export type ModuleCatalog = Readonly<Record<string, { normalize?: (raw: Json) => Json; argModes?: Readonly<Record<string, string>> }>>;

function conds(v: Json | undefined): string[] {
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v.map(jsonText) : [jsonText(v)];
}

function checkConditions(src: Source, list: string[], path: PathSeg[], raw: Json | undefined, out: Diagnostic[]): void {
  list.forEach((c, i) => {
    try {
      parseCondition(c);
    } catch (e) {
      if (!(e instanceof ConditionError)) throw e;
      const p = Array.isArray(raw) ? [...path, i] : path;
      const at = posInScalar(src, p, 1, e.offset + 1);
      const hint = 'conditions use and/or/not, ==, !=, <, >, in, "is defined" and filters like | int';
      out.push(diag('condition-syntax', `condition "${c}": ${e.message}`, at, { hint, path: toPointer(p) }));
    }
  });
}

/** JSON pointer → source position for every arg of a task (used to place template errors). */
function argPositions(src: Source, base: PathSeg[], v: Json, rel = ''): Record<string, SourceRef> {
  const out: Record<string, SourceRef> = { [rel || '/']: locate(src, base) };
  if (v && typeof v === 'object') {
    for (const [k, x] of Array.isArray(v) ? v.map((x, i) => [String(i), x] as const) : Object.entries(v)) {
      Object.assign(out, argPositions(src, [...base, Array.isArray(v) ? Number(k) : k], x, `${rel}/${k}`));
    }
  }
  return out;
}

function loadTask(src: Source, raw: Raw, path: PathSeg[], modules: ModuleCatalog, out: Diagnostic[]): Task | undefined {
  const getModule = (name: string) => (Object.prototype.hasOwnProperty.call(modules, name) ? modules[name] : undefined);
  const keys = Object.keys(raw);
  const moduleKeys = keys.filter((k) => !KEYWORDS.has(k));
  const known = moduleKeys.filter((k) => getModule(k));
  const unknown = moduleKeys.filter((k) => !getModule(k));
  const taskAt = locate(src, path);
  for (const k of unknown) {
    const at = locate(src, [...path, k], true);
    if (known.length > 0) {
      const hint = didYouMean(k, TASK_KEYWORDS) ?? `task keywords: ${TASK_KEYWORDS.join(', ')}`;
      out.push(diag('schema-unknown-key', `unknown task keyword "${k}"`, at, { length: k.length, hint, path: toPointer([...path, k]) }));
    } else {
      const hint = didYouMean(k, [...Object.keys(modules), ...TASK_KEYWORDS]) ?? `modules: ${Object.keys(modules).join(', ')}`;
      out.push(diag('unknown-module', `unknown module "${k}"`, at, { length: k.length, hint, path: toPointer([...path, k]) }));
    }
  }
  if (known.length > 1) {
    const at = locate(src, [...path, known[1] ?? ''], true);
    const message = `a task runs exactly one module, this one names ${known.length}: ${known.join(', ')}`;
    const path1 = toPointer([...path, known[1] ?? '']);
    out.push(diag('multiple-modules', message, at, { length: (known[1] ?? '').length, hint: 'split it into one task per module', path: path1 }));
    return undefined;
  }
  if (known.length === 0) {
    const hint = `add one of: ${Object.keys(modules).join(', ')}`;
    if (unknown.length === 0) out.push(diag('no-module', 'the task names no module', taskAt, { length: 1, hint, path: toPointer(path) }));
    return undefined;
  }
  const moduleName = known[0] ?? '';
  const mod = getModule(moduleName);
  if (!mod) return undefined;
  const args = mod.normalize ? mod.normalize(raw[moduleName] ?? null) : (raw[moduleName] ?? null);
  const before = out.length;
  // Templated strings are checked against the schema once rendered (compile), not as {{source}}.
  // Shorthand (`shell: echo hi`): the normalized args are validated, reported at the shorthand string.
  out.push(...schemaDiagnostics(src, `modules/${moduleName}`, args, { prefix: [...path, moduleName], skip: skipStringsWith(args, '{{') }));
  if (args && typeof args === 'object' && !Array.isArray(args)) {
    for (const [key, mode] of Object.entries(mod.argModes ?? {})) {
      const text = args[key];
      if (mode === 'shell' && typeof text === 'string')
        checkShellContext(src, text, typeof raw[moduleName] === 'string' ? [...path, moduleName] : [...path, moduleName, key], out);
    }
  }
  const task: Task = {
    name: typeof raw.name === 'string' ? raw.name : `${moduleName}`,
    module: moduleName,
    args,
    when: conds(raw.when),
    runOnce: raw.run_once === true,
    retries: typeof raw.retries === 'number' ? raw.retries : 0,
    delaySec: typeof raw.delay === 'number' ? raw.delay : 5,
    until: conds(raw.until),
    ignoreErrors: raw.ignore_errors === true,
    ...(raw.ignore_unreachable === true ? { ignoreUnreachable: true } : {}),
    tags: Array.isArray(raw.tags) ? raw.tags.map(String) : [],
    become: raw.become === true,
    src: taskAt,
    argSrc: argPositions(src, [...path, moduleName], raw[moduleName] ?? null),
  };
  if (typeof raw.register === 'string') {
    task.register = raw.register;
    reserved(src, raw.register, [...path, 'register'], false, 'with register', out);
  }
  if (moduleName === 'set_fact' && args && typeof args === 'object' && !Array.isArray(args)) {
    for (const k of Object.keys(args)) reserved(src, k, [...path, moduleName, k], true, 'with set_fact', out);
  }
  if (typeof raw.delegate_to === 'string') task.delegateTo = raw.delegate_to;
  if (typeof raw.timeout === 'number') task.timeoutSec = raw.timeout;
  if (raw.changed_when !== undefined) task.changedWhen = conds(raw.changed_when);
  if (raw.failed_when !== undefined) task.failedWhen = conds(raw.failed_when);
  if (typeof raw.check_mode === 'boolean') task.checkMode = raw.check_mode;
  for (const [k, list] of [
    ['when', task.when],
    ['until', task.until],
    ['changed_when', task.changedWhen ?? []],
    ['failed_when', task.failedWhen ?? []],
  ] as const) {
    checkConditions(src, list, [...path, k], raw[k], out);
  }
  if (moduleName === 'assert' && args && typeof args === 'object' && !Array.isArray(args)) {
    const that = args.that;
    checkConditions(src, conds(that), [...path, moduleName, 'that'], that, out);
  }
  return out.length === before ? task : undefined;
}

const CONTEXT_HINT: Record<ShellContext, (m: string) => string> = {
  'single quotes': (m) => `remove the quotes: ${m} is quoted for you`,
  'double quotes': (m) => `remove the quotes: ${m} is quoted for you`,
  'a here-document': (m) => `pass the value as an argument instead (e.g. printf '%s\\n' ${m} | …)`,
  'a comment': (m) => `move ${m} out of the comment`,
};

function posOfOffset(src: Source, path: PathSeg[], text: string, offset: number): SourceRef & { length: number } {
  const before = text.slice(0, offset).split('\n');
  return posInScalar(src, path, before.length, (before[before.length - 1] ?? '').length + 1);
}

/** In a folded block scalar (>, >-) source lines are joined by spaces: walk them to find an offset. */
function foldedPos(src: Source, path: PathSeg[], offset: number): (SourceRef & { length: number }) | undefined {
  const r = locate(src, path);
  if (src.text[src.lineCounter.lineStarts[r.line - 1]! + r.col - 1] !== '>') return undefined;
  const lines = src.text.split('\n');
  let cum = 0;
  for (let ln = r.line; ln < lines.length; ln++) {
    const t = lines[ln] ?? '';
    if (t.trim() === '') {
      cum += 1;
      continue;
    }
    const indent = t.length - t.trimStart().length;
    const body = t.trimStart();
    if (offset < cum + body.length) return { file: src.file, line: ln + 1, col: indent + offset - cum + 1, length: 1 };
    cum += body.length + 1;
  }
  return undefined;
}

/** {{value}} inside quotes, a here-document or a comment of a shell command: refused at its position. */
function checkShellContext(src: Source, text: string, path: PathSeg[], out: Diagnostic[]): void {
  for (const m of misplacedValues(text)) {
    const at = foldedPos(src, path, m.offset) ?? posOfOffset(src, path, text, m.offset);
    out.push(
      diag('template-quoting', `${m.text} is inside ${m.context}: its shell quoting does not protect it there`, at, {
        length: m.text.length,
        hint: CONTEXT_HINT[m.context](m.text),
      }),
    );
  }
}

/** A built-in name (cluster, run, secrets, …) used as a variable name: refused at its position. */
function reserved(src: Source, name: string, path: PathSeg[], isKey: boolean, where: string, out: Diagnostic[]): void {
  if (!isBuiltinName(name)) return;
  const at = locate(src, path, isKey);
  out.push(diag('reserved-name', builtinNameMessage(name, where), at, { length: name.length, hint: BUILTIN_HINT }));
}

export interface PlaybookResult {
  playbook?: Playbook;
  source?: Source;
  diagnostics: Diagnostic[];
}

/**
 * Task-level unknown keys are classified by loadTask (unknown module vs unknown keyword), not by
 * ajv; module args are checked per task against the module's own schema, with better messages.
 * (Deciding this from the error itself keeps it linear: matching diagnostics back to task keys by
 * position was quadratic in the number of tasks.)
 */
function skipTaskModuleErrors(pointer: string, keyword: string): boolean {
  if (keyword === 'additionalProperties' && /^\/\d+\/tasks\/\d+$/.test(pointer)) return true;
  return /^\/\d+\/tasks\/\d+\/[a-z_]+(\/|$)/.test(pointer) && !TASK_KEYWORDS.some((k) => pointer.split('/')[4] === k);
}

/** More tasks than README "Input limits" allows, reported at the first task past the limit. */
function taskCountProblem(src: Source): Diagnostic | undefined {
  if (!Array.isArray(src.data)) return undefined;
  let total = 0;
  for (let pi = 0; pi < src.data.length; pi++) {
    const tasks = (src.data[pi] as Raw | null)?.tasks;
    if (!Array.isArray(tasks)) continue;
    if (total + tasks.length > INPUT_LIMITS.tasks) {
      const count = src.data.reduce<number>((n, p) => n + (Array.isArray((p as Raw | null)?.tasks) ? ((p as Raw).tasks as Json[]).length : 0), 0);
      return overLimit(
        'tasks',
        count,
        INPUT_LIMITS.tasks,
        locate(src, [pi, 'tasks', INPUT_LIMITS.tasks - total]),
        'split the playbook; each apply takes one playbook (README "Input limits")',
      );
    }
    total += tasks.length;
  }
  return undefined;
}

/** Read a playbook file and check it against the schemas and the given module catalog. */
export function loadPlaybook(path: string, modules: ModuleCatalog, displayPath = path): PlaybookResult {
  const { source, diagnostics } = readYaml(path, displayPath);
  if (!source) return { diagnostics };
  const tooMany = taskCountProblem(source);
  if (tooMany) return { source, diagnostics: [tooMany] };
  const out: Diagnostic[] = [];
  out.push(...schemaDiagnostics(source, 'playbook', source.data, { skip: skipTaskModuleErrors }));
  const data = source.data;
  const plays: Play[] = [];
  if (Array.isArray(data)) {
    data.forEach((p, pi) => {
      const rawPlay = (p && typeof p === 'object' && !Array.isArray(p) ? p : {}) as Raw;
      const tasks: Task[] = [];
      const rawTasks = Array.isArray(rawPlay.tasks) ? rawPlay.tasks : [];
      rawTasks.forEach((t, ti) => {
        if (t && typeof t === 'object' && !Array.isArray(t)) {
          const task = loadTask(source, t, [pi, 'tasks', ti], modules, out);
          if (task) tasks.push(task);
        }
      });
      const rawVars = rawPlay.vars;
      if (rawVars && typeof rawVars === 'object' && !Array.isArray(rawVars))
        for (const k of Object.keys(rawVars)) reserved(source, k, [pi, 'vars', k], true, 'in play vars', out);
      const serial = rawPlay.serial;
      plays.push({
        name: typeof rawPlay.name === 'string' ? rawPlay.name : `play ${pi + 1}`,
        hosts: typeof rawPlay.hosts === 'string' ? rawPlay.hosts : '',
        vars: rawPlay.vars && typeof rawPlay.vars === 'object' && !Array.isArray(rawPlay.vars) ? rawPlay.vars : {},
        serial: serial === undefined || serial === null ? [] : Array.isArray(serial) ? (serial as (number | string)[]) : [serial as number | string],
        anyErrorsFatal: rawPlay.any_errors_fatal === true,
        ...(typeof rawPlay.max_fail_percentage === 'number' ? { maxFailPercentage: rawPlay.max_fail_percentage } : {}),
        destructive: rawPlay.destructive === true,
        ...(Array.isArray(rawPlay.vars_required) ? { varsRequired: rawPlay.vars_required.filter((v): v is string => typeof v === 'string') } : {}),
        ...(rawPlay.quorum_lost === true ? { quorumLost: true } : {}),
        ...(rawPlay.always === true ? { always: true } : {}),
        tasks,
        src: locate(source, [pi]),
      });
    });
  }
  const dedup = dedupe(out);
  if (dedup.length) return { source, diagnostics: dedup };
  return { source, diagnostics: [], playbook: { file: displayPath, sha256: source.sha256, plays } };
}

function dedupe(ds: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return ds.filter((d) => {
    const k = `${d.file}:${d.line}:${d.col}:${d.code}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
