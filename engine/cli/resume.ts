// --resume RUN_ID: what a run continues from. Same inputs (sha256) or refuse; finished steps are not
// run again; without -e and --limit it uses the values that run was given (recorded in its journal).
// Split from apply.ts (issue 13: one job per file); apply.ts re-exports loadResume.
import type { RunArgs } from '../model/events.js';
import type { Json, Plan, PlannedTask, Step } from '../model/types.js';
import type { ResumeState } from '../execute/execute.js';
import { RUN_ID_PATTERN } from '../execute/scope.js';
import { readJournal, type JournalState } from '../report/journal.js';
import { REDACTED } from '../redact/redact.js';
import { isSavedPlanPath } from './saved-plan.js';
import { EXIT, type Io } from '../model/io.js';
import { DEFAULT_JOURNAL_DIR } from './output.js';
import type { ApplyOptions } from './apply.js';

function inputsMismatch(journalPlan: Plan, plan: Plan): string[] {
  const key = (i: { role: string; path: string }): string => (i.role === 'file' ? `file ${i.path}` : i.role);
  const before = new Map(journalPlan.inputs.map((i) => [key(i), i.sha256]));
  const now = new Map(plan.inputs.map((i) => [key(i), i.sha256]));
  const out: string[] = [];
  for (const [k, sha] of before)
    if (now.get(k) !== sha) out.push(now.has(k) ? `${k} changed (sha256 ${sha.slice(0, 12)} → ${(now.get(k) ?? '').slice(0, 12)})` : `${k} is no longer given`);
  for (const k of now.keys()) if (!before.has(k)) out.push(`${k} was not an input of that run`);
  return out;
}

type ResumeLoad = (ResumeState & { notes: string[] }) | { refusal: string; code: number };

/**
 * What --resume RUN_ID continues from. A run that was itself a resume continues the same chain:
 * journals are merged oldest first and the first run's id stays `run.id` (names and tokens made
 * from it, like a restore's cluster token, must not change halfway).
 */
export function loadResume(runId: string, journalDir: string, plan: Plan, read?: JournalState): ResumeLoad {
  const refuse = (refusal: string, code: number = EXIT.INVALID): ResumeLoad => ({ refusal: `runbook: ${refusal}\n`, code });
  if (!RUN_ID_PATTERN.test(runId)) return refuse(`--resume: "${runId}" is not a run id (YYYYMMDDTHHMMSSZ-xxxxxx)`);
  const chain: JournalState[] = [];
  for (let id: string | undefined = runId; id !== undefined;) {
    if (chain.length > 100) return refuse(`--resume ${runId}: the chain of resumed runs is too long`);
    let j: JournalState;
    try {
      j = id === runId && read ? read : readJournal(journalDir, id);
    } catch (e) {
      return refuse(`--resume ${runId}: cannot read the journal of run ${id} in ${journalDir}: ${e instanceof Error ? e.message : String(e)}`);
    }
    chain.unshift(j);
    const start = j.events.find((e) => e.type === 'run.start');
    if (start?.type === 'run.start' && start.check && id === runId)
      return refuse(`run ${runId} was a --check run: it changed nothing, so there is nothing to resume; start a new run`);
    id = start?.type === 'run.start' ? start.resumedFrom : undefined;
  }
  const last = chain[chain.length - 1] as JournalState;
  const changed = inputsMismatch(last.plan, plan);
  if (changed.length) {
    return refuse(
      `refusing to resume run ${runId}: its inputs changed since:\n${changed.map((c) => `  ${c}\n`).join('')}Resume needs the same playbook, inventory, -e values and limit (without -e and --limit it uses the run's own); start a new run instead.`,
    );
  }
  const lastEnd = [...last.events].reverse().find((e) => e.type === 'run.end');
  if (lastEnd?.type === 'run.end' && lastEnd.ok) return refuse(`run ${runId} finished successfully; nothing to resume`, EXIT.OK);
  const done = new Set<string>();
  const registered: Record<string, Record<string, Json>> = {};
  const facts: Record<string, Record<string, Json>> = {};
  for (const j of chain) {
    j.done.forEach((id) => done.add(id));
    for (const [h, v] of Object.entries(j.registered)) Object.assign((registered[h] ??= {}), v);
    for (const [h, v] of Object.entries(j.facts)) Object.assign((facts[h] ??= {}), v);
  }
  const known = new Set(plan.plays.flatMap((p) => p.tasks.flatMap((t) => t.steps.map((s) => s.id))));
  const unknownIds = [...done].filter((id) => !known.has(id));
  if (unknownIds.length)
    return refuse(
      `refusing to resume run ${runId}: the plan no longer has step(s) ${unknownIds.slice(0, 5).join(', ')} (runbook version or working directory changed?)`,
    );
  const masked = redactedValues(plan, done, registered, facts);
  if ('refusal' in masked) return refuse(`refusing to resume run ${runId}: ${masked.refusal}`);
  const first = chain[0] as JournalState;
  const firstStart = first.events.find((e) => e.type === 'run.start');
  const rootRunId = firstStart?.type === 'run.start' ? firstStart.runId : runId;
  return { runId, ...(rootRunId !== runId ? { rootRunId } : {}), done, registered, facts, notes: masked.notes };
}

const holdsMask = (v: unknown): boolean =>
  typeof v === 'string'
    ? v.includes(REDACTED)
    : Array.isArray(v)
      ? v.some(holdsMask)
      : v !== null && typeof v === 'object'
        ? Object.entries(v).some(([k, x]) => k.includes(REDACTED) || holdsMask(x))
        : false;

/**
 * The journal stores registered values and facts redacted: one that held a secret comes back as
 * ******, which a resumed run must not use. Each is dropped; the read-only step that produced it
 * runs again (a probe, or set_fact), so the real value is there when needed. A value made by a
 * step that changes things is not made again: refused when a step still to run needs it.
 * Changes `done`, `registered` and `facts` in place.
 */
function redactedValues(
  plan: Plan,
  done: Set<string>,
  registered: Record<string, Record<string, Json>>,
  facts: Record<string, Record<string, Json>>,
): { notes: string[] } | { refusal: string } {
  const notes: string[] = [];
  const problems: string[] = [];
  for (const [kind, table] of [
    ['registered', registered],
    ['fact', facts],
  ] as const) {
    for (const [host, values] of Object.entries(table)) {
      for (const [name, value] of Object.entries(values)) {
        if (!holdsMask(value)) continue;
        delete values[name];
        const producers = plan.plays.flatMap((p) =>
          p.tasks
            .filter((t) =>
              kind === 'registered'
                ? t.register === name
                : t.module === 'set_fact' && t.steps.some((s) => s.actions.some((a) => a.kind === 'set_fact' && name in a.facts)),
            )
            .flatMap((t) => t.steps.filter((s) => t.runOnce || s.host === host).map((s) => ({ t, s }))),
        );
        const word = new RegExp(`\\b${name}\\b`);
        const uses = (t: PlannedTask, s: Step): boolean =>
          s.needs.some((n) => n === name || n.startsWith(`${name}.`)) || [...t.when, ...(s.when ?? [])].some((c) => word.test(c));
        const needed = plan.plays.some((p) => p.tasks.some((t) => t.steps.some((s) => !done.has(s.id) && (s.host === host || t.runOnce) && uses(t, s))));
        for (const { t, s } of producers) {
          if (!done.has(s.id)) continue;
          if (t.checkMode) {
            done.delete(s.id);
            notes.push(`step ${s.id} (${t.name}) runs again: the ${kind} value "${name}" of ${host} is redacted in the journal (it held a secret)`);
          } else if (needed) {
            problems.push(
              `the ${kind} value "${name}" of ${host} is redacted in the journal (it held a secret), a step still to run needs it, and step ${s.id} (${t.name}) that made it changes things, so it is not run again`,
            );
          }
        }
      }
    }
  }
  if (problems.length) return { refusal: `${problems.join('; ')}. Start a new run instead.` };
  return { notes: [...new Set(notes)] };
}

/**
 * `--resume RUN_ID` without -e and --limit runs with the values that run used (its journal's
 * run.start records them), so an operator resuming at 3 a.m. need not retype them. Given values
 * are used as they are (and must match, like every input).
 */
export function withResumedArgs(playbook: string, opts: ApplyOptions, io: Io): { opts: ApplyOptions; read?: JournalState } {
  const id = opts.resume;
  if (id === undefined || !RUN_ID_PATTERN.test(id) || (opts.extraVars ?? []).length > 0 || opts.limit || isSavedPlanPath(playbook)) return { opts };
  let read: JournalState;
  try {
    read = readJournal(opts.journalDir ?? DEFAULT_JOURNAL_DIR, id);
  } catch {
    return { opts }; // loadResume says what is wrong with that journal
  }
  const start = read.events.find((e) => e.type === 'run.start');
  const args: RunArgs | undefined = start?.type === 'run.start' ? start.args : undefined;
  if (!args) return { opts, read };
  const names = (args.extraVars ?? []).map((e) => (e.startsWith('@') ? e : e.slice(0, Math.max(0, e.indexOf('=')))));
  const said = [names.length ? `-e ${names.join(', ')}` : '', args.limit ? `--limit ${args.limit}` : ''].filter(Boolean).join(' and ');
  io.err(`runbook: resuming run ${id} with its ${said} (from its journal)\n`);
  return { opts: { ...opts, ...(args.extraVars?.length ? { extraVars: args.extraVars } : {}), ...(args.limit ? { limit: args.limit } : {}) }, read };
}

/** The state --resume continues from (undefined without --resume), or the exit code of a refusal. */
export function resumeOf(opts: ApplyOptions, journalDir: string, plan: Plan, read: Parameters<typeof loadResume>[3], io: Io): ResumeState | undefined | number {
  if (opts.resume === undefined) return undefined;
  const r = loadResume(opts.resume, journalDir, plan, read);
  if ('refusal' in r) {
    io.err(r.refusal);
    return r.code;
  }
  for (const n of r.notes) io.err(`runbook: resuming: ${n}\n`);
  return r;
}
