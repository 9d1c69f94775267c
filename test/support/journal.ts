// The one journal reader of the tests: a run's .jsonl parsed into the records the engine writes
// (the plan record first, then the events), typed by the engine's own event map.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { EventName, RunEvent } from '../../engine/model/events.js';
import type { PlanRecord } from '../../engine/report/journal.js';

/** An event as the journal stores it (journalRecord marks a cut step.end value `truncated`). */
export type JournalEventOf<K extends EventName> = Extract<RunEvent, { type: K }> & { truncated?: boolean };
export type JournalRecord = PlanRecord | JournalEventOf<EventName>;

/**
 * Any record seen loosely, for tests that pick records with a predicate (`find`, `filter`) and
 * would otherwise have to narrow the union first. Every JournalRecord is one.
 */
export interface JournalEvent {
  type: string;
  at?: string;
  play?: number;
  task?: number;
  stepId?: string;
  host?: string;
  target?: string;
  message?: string;
  result?: { status: string; value: unknown; message?: string; attempts?: number; actions?: { stdoutTail?: string; stderrTail?: string }[] };
}

/** Parses journal text; a line that is not JSON fails with its line number (a torn write is a finding). */
export function parseJournal(text: string, where = 'journal'): JournalRecord[] {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines.map((l, i) => {
    try {
      return JSON.parse(l) as JournalRecord;
    } catch (e) {
      throw new Error(`${where}:${i + 1}: not a JSON line: ${(e as Error).message}\n${l.slice(0, 200)}`, { cause: e });
    }
  });
}

export function readJournalPath(file: string): JournalRecord[] {
  return parseJournal(readFileSync(file, 'utf8'), file);
}

/** The journal of run `runId` under `journalDir` (<dir>/<runId>.jsonl). */
export function readRunJournal(journalDir: string, runId: string): JournalRecord[] {
  return readJournalPath(path.join(journalDir, `${runId}.jsonl`));
}

/** The events of one type, narrowed to that type. */
export function eventsOf<K extends EventName>(records: readonly JournalRecord[], type: K): JournalEventOf<K>[] {
  return records.filter((r): r is JournalEventOf<K> => r.type === type);
}

/** The run id runbook printed ("run id: ..."), from the output text. */
export function runIdOf(run: { all: string } | string): string {
  const text = typeof run === 'string' ? run : run.all;
  const id = /run id: (\S+)/.exec(text)?.[1];
  assert.ok(id, `no run id in the output:\n${text}`);
  return id;
}

export interface StepEnd {
  host: string;
  stepId: string;
  status: string;
  message: string;
  attempts: number;
  at: string;
}

/** The step.end results of a journal, flattened for assertions. */
export function stepEnds(records: readonly JournalEvent[]): StepEnd[] {
  return records
    .filter((e) => e.type === 'step.end')
    .map((e) => ({
      host: e.host ?? '',
      stepId: e.stepId ?? '',
      status: e.result?.status ?? '',
      message: e.result?.message ?? '',
      attempts: e.result?.attempts ?? 0,
      at: e.at ?? '',
    }));
}
