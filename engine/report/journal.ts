// The run journal: `<journalDir>/<runId>.jsonl`, owner-only, one JSON line per event, written
// synchronously as events happen so a crash (even SIGKILL) leaves everything up to the last event.
// Line 1 is `{type: "plan", ...}` with the full plan; then the events, redacted, with output bounded
// to tails. `readJournal` rebuilds what `--resume` needs: finished steps, registered values, facts.
import {
  chmodSync,
  closeSync,
  existsSync,
  fchmodSync,
  fdatasyncSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { RunEvent, StepResult, StepStatus } from '../model/events.js';
import type { Json, Plan, PlannedTask } from '../model/types.js';
import { eventLine } from './event-json.js';
import { redactDeep, type Redactor } from '../redact/redact.js';
import { RunError } from '../model/errors.js';

export const JOURNAL_FORMAT = 'runbook-journal';
export const JOURNAL_VERSION = 1;
/** stdout/stderr tails and messages kept per action. */
export const JOURNAL_TAIL_BYTES = 4096;
/** Any one string inside a registered value; longer ones are cut and the step is not counted as done. */
export const JOURNAL_VALUE_BYTES = 64 * 1024;

/** Statuses after which a step need not run again on --resume. */
export const DONE_STATUSES: readonly StepStatus[] = ['ok', 'changed', 'skipped'];

export interface PlanRecord {
  type: 'plan';
  at: string;
  format: typeof JOURNAL_FORMAT;
  version: typeof JOURNAL_VERSION;
  runId: string;
  plan: Plan;
}

const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function journalPath(journalDir: string, runId: string): string {
  if (!RUN_ID.test(runId)) throw new RunError('BAD_RUN_ID', `invalid run id "${runId}": letters, digits, ".", "_" and "-" only`);
  return join(journalDir, `${runId}.jsonl`);
}

/** The last `max` bytes of a UTF-8 string, without a broken first character, marked when cut. */
export function tailBytes(s: string, max: number): string {
  const buf = Buffer.from(s, 'utf8');
  if (buf.length <= max) return s;
  let start = buf.length - max;
  while (start < buf.length && ((buf[start] ?? 0) & 0xc0) === 0x80) start++;
  return `…${buf.subarray(start).toString('utf8')}`;
}

/** The first `max` bytes of a UTF-8 string, marked when cut. */
function headBytes(s: string, max: number): string {
  const buf = Buffer.from(s, 'utf8');
  if (buf.length <= max) return s;
  let end = max;
  while (end > 0 && ((buf[end] ?? 0) & 0xc0) === 0x80) end--;
  return `${buf.subarray(0, end).toString('utf8')}…`;
}

function boundValue(v: Json, cut: { truncated: boolean }): Json {
  if (typeof v === 'string') {
    if (Buffer.byteLength(v) <= JOURNAL_VALUE_BYTES) return v;
    cut.truncated = true;
    return headBytes(v, JOURNAL_VALUE_BYTES);
  }
  if (Array.isArray(v)) return v.map((x) => boundValue(x, cut));
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, boundValue(x, cut)]));
  return v;
}

function boundResult(r: StepResult): { result: StepResult; truncated: boolean } {
  const cut = { truncated: false };
  const result: StepResult = {
    ...r,
    value: boundValue(r.value, cut),
    ...(r.message !== undefined ? { message: tailBytes(r.message, JOURNAL_TAIL_BYTES) } : {}),
    actions: r.actions.map((a) => ({
      ...a,
      ...(a.cmd !== undefined ? { cmd: headBytes(a.cmd, JOURNAL_TAIL_BYTES) } : {}),
      ...(a.stdoutTail !== undefined ? { stdoutTail: tailBytes(a.stdoutTail, JOURNAL_TAIL_BYTES) } : {}),
      ...(a.stderrTail !== undefined ? { stderrTail: tailBytes(a.stderrTail, JOURNAL_TAIL_BYTES) } : {}),
    })),
  };
  return { result, truncated: cut.truncated };
}

/**
 * What the journal stores for an event: redacted, output bounded. Streamed output (`step.output`)
 * is not stored; the step's end record keeps the tails. A step.end whose value had to be cut gets
 * `truncated: true` and is then not treated as done by readJournal.
 */
export function journalRecord(ev: RunEvent, redact: Redactor): object | null {
  if (ev.type === 'step.output') return null;
  const r = redactDeep(ev, redact);
  if (r.type === 'step.end') {
    const { result, truncated } = boundResult(r.result);
    return truncated ? { ...r, result, truncated: true } : { ...r, result };
  }
  if ((r.type === 'warning' || r.type === 'host.unreachable' || r.type === 'host.failed') && r.message.length > JOURNAL_TAIL_BYTES) {
    return { ...r, message: tailBytes(r.message, JOURNAL_TAIL_BYTES) };
  }
  return r;
}

export class JournalWriter {
  readonly path: string;
  private fd: number | null;

  constructor(
    journalDir: string,
    runId: string,
    plan: Plan,
    private readonly redact: Redactor,
    at: string,
  ) {
    this.path = journalPath(journalDir, runId);
    mkdirSync(journalDir, { recursive: true, mode: 0o700 });
    // The journal directory is runbook's own: owner-only even when it existed before.
    chmodSync(journalDir, 0o700);
    this.fd = openSync(this.path, 'a+', 0o600);
    // An existing file keeps its history but never wider permissions.
    fchmodSync(this.fd, 0o600);
    const size = fstatSync(this.fd).size;
    if (size > 0) {
      // A previous writer may have died mid-line: start on a fresh line so that line stays the only bad one.
      const last = Buffer.alloc(1);
      readSync(this.fd, last, 0, 1, size - 1);
      if (last[0] !== 0x0a) this.write('\n');
    }
    const record: PlanRecord = { type: 'plan', at, format: JOURNAL_FORMAT, version: JOURNAL_VERSION, runId, plan: redactDeep(plan, redact) };
    this.write(`${eventLine(record)}\n`);
  }

  append(ev: RunEvent): void {
    const rec = journalRecord(ev, this.redact);
    if (rec) this.write(`${eventLine(rec as { type: string })}\n`);
  }

  /** Forces what was written to disk (run end, close). */
  sync(): void {
    if (this.fd !== null) fdatasyncSync(this.fd);
  }

  close(): void {
    if (this.fd === null) return;
    const fd = this.fd;
    this.fd = null;
    try {
      fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  private write(text: string): void {
    if (this.fd === null) return;
    const buf = Buffer.from(text, 'utf8');
    let off = 0;
    while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off);
  }
}

// ───────────────────────────── reading ─────────────────────────────

export interface JournalState {
  plan: Plan;
  /** Step ids that finished ok, changed or skipped (failed/unknown/unreachable steps must run again). */
  done: Set<string>;
  /** host → register name → value, from finished steps (run_once values apply to every host of the play). */
  registered: Record<string, Record<string, Json>>;
  /** host → fact → value, from finished set_fact steps (run_once likewise). */
  facts: Record<string, Record<string, Json>>;
  /** A run.end was recorded. */
  ended: boolean;
  events: RunEvent[];
  /** Lines that were not JSON (a crash mid-write leaves at most one, at the end). */
  badLines: number;
}

interface Parsed {
  planRecord?: PlanRecord;
  events: RunEvent[];
  badLines: number;
}

function parseJournalText(text: string): Parsed {
  const out: Parsed = { events: [], badLines: 0 };
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch {
      out.badLines++;
      continue;
    }
    if (rec === null || typeof rec !== 'object' || typeof (rec as { type?: unknown }).type !== 'string') {
      out.badLines++;
      continue;
    }
    if ((rec as { type: string }).type === 'plan') out.planRecord ??= rec as PlanRecord;
    else out.events.push(rec as RunEvent);
  }
  return out;
}

function findTask(plan: Plan, play: number, task: number): { task: PlannedTask; hosts: string[] } | undefined {
  const p = plan.plays.find((x) => x.index === play);
  const t = p?.tasks.find((x) => x.index === task);
  return p && t ? { task: t, hosts: p.hosts } : undefined;
}

/** "<play>.<task>@<host>" → numbers, for events that only carry the step id. */
function parseStepId(id: string): { play: number; task: number; host: string } | undefined {
  const m = /^(\d+)\.(\d+)@(.+)$/.exec(id);
  return m ? { play: Number(m[1]), task: Number(m[2]), host: m[3] as string } : undefined;
}

/** Statuses whose value `register` keeps (as the executor does; skipped and failed-to-reach steps store nothing). */
const VALUE_STATUSES: readonly StepStatus[] = ['ok', 'changed'];

/**
 * What a journal says is finished. A run that was itself a resume (`run.start.resumedFrom`) skipped
 * the steps its predecessor finished without re-registering their values, so the predecessor's
 * journal (same directory) is read first and this run's results are laid over it.
 */
export function readJournal(journalDir: string, runId: string): JournalState {
  return readChain(journalDir, runId, new Set());
}

function readChain(journalDir: string, runId: string, seen: Set<string>): JournalState {
  seen.add(runId);
  const path = journalPath(journalDir, runId);
  const parsed = parseJournalText(readFileSync(path, 'utf8'));
  if (!parsed.planRecord) throw new RunError('NOT_A_JOURNAL', `${path}: not a runbook journal (no plan record)`);
  const plan = parsed.planRecord.plan;
  const state: JournalState = { plan, done: new Set(), registered: {}, facts: {}, ended: false, events: parsed.events, badLines: parsed.badLines };
  const start = parsed.events.find((e) => e.type === 'run.start');
  const before = start?.type === 'run.start' ? start.resumedFrom : undefined;
  if (before !== undefined && RUN_ID.test(before) && !seen.has(before) && existsSync(journalPath(journalDir, before))) {
    const base = readChain(journalDir, before, seen);
    base.done.forEach((id) => state.done.add(id));
    state.registered = base.registered;
    state.facts = base.facts;
  }
  for (const ev of parsed.events) {
    if (ev.type === 'run.end') state.ended = true;
    if (ev.type !== 'step.end') continue;
    if (!DONE_STATUSES.includes(ev.result.status) || (ev as { truncated?: boolean }).truncated === true) continue;
    state.done.add(ev.stepId);
    if (!VALUE_STATUSES.includes(ev.result.status)) continue;
    const ids = parseStepId(ev.stepId);
    const found = findTask(plan, ev.play ?? ids?.play, ev.task ?? ids?.task);
    if (!found) continue;
    const host = ev.host ?? ids?.host;
    // run_once: the one step's value (and facts) belong to every host of the play.
    const hosts = found.task.runOnce ? found.hosts : [host];
    if (found.task.register) {
      for (const h of hosts) (state.registered[h] ??= {})[found.task.register] = ev.result.value;
    }
    // A set_fact step's value is its facts (a step that also runs commands has the command's result instead).
    const step = found.task.steps.find((s) => s.id === ev.stepId);
    const runsCommands = step?.actions.some((a) => a.kind === 'exec' || a.kind === 'local') ?? false;
    const factsOnly = step !== undefined && step.actions.some((a) => a.kind === 'set_fact') && !runsCommands;
    const setsFacts = found.task.module === 'set_fact' || factsOnly;
    const value = ev.result.value;
    if (setsFacts && value !== null && typeof value === 'object' && !Array.isArray(value)) {
      for (const h of hosts) Object.assign((state.facts[h] ??= {}), value);
    }
  }
  return state;
}

export interface RunSummary {
  runId: string;
  playbook: string;
  startedAt: string;
  ended: boolean;
  ok?: boolean;
}

/** The runs in a journal directory, oldest first. Files that are not journals are left out. */
export function listRuns(journalDir: string): RunSummary[] {
  let names: string[];
  try {
    names = readdirSync(journalDir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const runs: RunSummary[] = [];
  for (const name of names) {
    if (!name.endsWith('.jsonl')) continue;
    const runId = name.slice(0, -'.jsonl'.length);
    if (!RUN_ID.test(runId)) continue;
    let parsed: Parsed;
    try {
      parsed = parseJournalText(readFileSync(join(journalDir, name), 'utf8'));
    } catch {
      continue;
    }
    if (!parsed.planRecord) continue;
    const start = parsed.events.find((e): e is Extract<RunEvent, { type: 'run.start' }> => e.type === 'run.start');
    const end = parsed.events.find((e): e is Extract<RunEvent, { type: 'run.end' }> => e.type === 'run.end');
    runs.push({
      runId,
      playbook: start?.playbook ?? parsed.planRecord.plan.playbook,
      startedAt: start?.at ?? parsed.planRecord.at,
      ended: end !== undefined,
      ...(end ? { ok: end.ok } : {}),
    });
  }
  return runs.sort((a, b) => (a.startedAt === b.startedAt ? (a.runId < b.runId ? -1 : 1) : a.startedAt < b.startedAt ? -1 : 1));
}
