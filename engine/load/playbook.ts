// Playbook: YAML → schema check → typed plays and tasks. Checks that need no inventory happen here:
// exactly one known module per task, module args against the module's schema, condition syntax.
import { diag, type Diagnostic } from '../model/diagnostics.js';
import { jsonText, type Json, type Play, type Playbook, type SourceRef, type Task } from '../model/types.js';
import { getModule, MODULES } from '../modules/registry.js';
import { ConditionError, parseCondition } from '../template/conditions.js';
import { didYouMean, schemaDiagnostics } from '../validate/schema.js';
import { INPUT_LIMITS, overLimit } from './limits.js';
import { locate, readYaml, scalarStart, type PathSeg, type Source } from './source.js';

export const TASK_KEYWORDS = ['name', 'when', 'until', 'changed_when', 'failed_when', 'register', 'run_once', 'delegate_to', 'retries', 'delay', 'timeout', 'ignore_errors', 'tags', 'become', 'check_mode'] as const;
const KEYWORDS = new Set<string>(TASK_KEYWORDS);

type Raw = Record<string, Json | undefined>;

function conds(v: Json | undefined): string[] {
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v.map(jsonText) : [jsonText(v)];
}

/** Position of a character offset inside a scalar (for errors inside conditions and templates). */
export function posInScalar(src: Source, path: PathSeg[], line: number, col: number): SourceRef & { length: number } {
  const s = scalarStart(src, path);
  if (s.block) {
    const fileLine = s.ref.line + line;
    // One line from the line index (splitting the whole file here, per template, was quadratic).
    const starts = src.lineCounter.lineStarts;
    const from = starts[fileLine - 1];
    const text = from === undefined ? '' : src.text.slice(from, (starts[fileLine] ?? src.text.length + 1) - 1);
    const indent = text.length - text.trimStart().length;
    return { file: src.file, line: fileLine, col: indent + col, length: 1 };
  }
  if (line <= 1) return { file: src.file, line: s.ref.line, col: s.ref.col + (s.quoted ? 1 : 0) + col - 1, length: 1 };
  return { ...s.ref, length: s.ref.length };
}

function checkConditions(src: Source, list: string[], path: PathSeg[], raw: Json | undefined, out: Diagnostic[]): void {
  list.forEach((c, i) => {
    try {
      parseCondition(c);
    } catch (e) {
      if (!(e instanceof ConditionError)) throw e;
      const p = Array.isArray(raw) ? [...path, i] : path;
      const at = posInScalar(src, p, 1, e.offset + 1);
      out.push(diag('condition-syntax', `condition "${c}": ${e.message}`, at, { hint: 'conditions use and/or/not, ==, !=, <, >, in, "is defined" and filters like | int' }));
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

function loadTask(src: Source, raw: Raw, path: PathSeg[], out: Diagnostic[]): Task | undefined {
  const keys = Object.keys(raw);
  const moduleKeys = keys.filter((k) => !KEYWORDS.has(k));
  const known = moduleKeys.filter((k) => getModule(k));
  const unknown = moduleKeys.filter((k) => !getModule(k));
  const taskAt = locate(src, path);
  for (const k of unknown) {
    const at = locate(src, [...path, k], true);
    if (known.length > 0) {
      out.push(diag('schema-unknown-key', `unknown task keyword "${k}"`, at, { length: k.length, hint: didYouMean(k, TASK_KEYWORDS) ?? `task keywords: ${TASK_KEYWORDS.join(', ')}` }));
    } else {
      const hint = didYouMean(k, [...Object.keys(MODULES), ...TASK_KEYWORDS]) ?? `modules: ${Object.keys(MODULES).join(', ')}`;
      out.push(diag('unknown-module', `unknown module "${k}"`, at, { length: k.length, hint }));
    }
  }
  if (known.length > 1) {
    const at = locate(src, [...path, known[1] ?? ''], true);
    out.push(diag('multiple-modules', `a task runs exactly one module, this one names ${known.length}: ${known.join(', ')}`, at, { length: (known[1] ?? '').length, hint: 'split it into one task per module' }));
    return undefined;
  }
  if (known.length === 0) {
    if (unknown.length === 0) out.push(diag('no-module', 'the task names no module', taskAt, { length: 1, hint: `add one of: ${Object.keys(MODULES).join(', ')}` }));
    return undefined;
  }
  const moduleName = known[0] ?? '';
  const mod = getModule(moduleName);
  if (!mod) return undefined;
  const args = mod.normalize ? mod.normalize(raw[moduleName] ?? null) : (raw[moduleName] ?? null);
  const before = out.length;
  if (typeof raw[moduleName] === 'string' && mod.normalize) {
    // Shorthand: validate the normalized args but report at the shorthand string.
    const d = schemaDiagnostics(src, `modules/${moduleName}`, args, { prefix: [...path, moduleName] });
    out.push(...d);
  } else {
    out.push(...schemaDiagnostics(src, `modules/${moduleName}`, args, { prefix: [...path, moduleName] }));
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
    tags: Array.isArray(raw.tags) ? raw.tags.map(String) : [],
    become: raw.become === true,
    src: taskAt,
    argSrc: argPositions(src, [...path, moduleName], raw[moduleName] ?? null),
  };
  if (typeof raw.register === 'string') task.register = raw.register;
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
    const that = (args).that;
    checkConditions(src, conds(that), [...path, moduleName, 'that'], that, out);
  }
  return out.length === before ? task : undefined;
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
      return overLimit('tasks', count, INPUT_LIMITS.tasks, locate(src, [pi, 'tasks', INPUT_LIMITS.tasks - total]),
        'split the playbook; each apply takes one playbook (README "Input limits")');
    }
    total += tasks.length;
  }
  return undefined;
}

export function loadPlaybook(path: string, displayPath = path): PlaybookResult {
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
          const task = loadTask(source, t, [pi, 'tasks', ti], out);
          if (task) tasks.push(task);
        }
      });
      const serial = rawPlay.serial;
      plays.push({
        name: typeof rawPlay.name === 'string' ? rawPlay.name : `play ${pi + 1}`,
        hosts: typeof rawPlay.hosts === 'string' ? rawPlay.hosts : '',
        vars: (rawPlay.vars && typeof rawPlay.vars === 'object' && !Array.isArray(rawPlay.vars) ? rawPlay.vars : {}),
        serial: serial === undefined || serial === null ? [] : Array.isArray(serial) ? (serial as (number | string)[]) : [serial as number | string],
        anyErrorsFatal: rawPlay.any_errors_fatal === true,
        ...(typeof rawPlay.max_fail_percentage === 'number' ? { maxFailPercentage: rawPlay.max_fail_percentage } : {}),
        destructive: rawPlay.destructive === true,
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
