// Where CLI commands write, injectable so tests can capture it.
import { createInterface } from 'node:readline/promises';

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  isTTY: boolean;
  /**
   * Ask the operator a question and read one line. Absent (or resolving undefined) when there is
   * no terminal to ask on: callers must then refuse, never assume a yes.
   */
  prompt?: (question: string) => Promise<string | undefined>;
}

async function ask(question: string): Promise<string | undefined> {
  if (process.stdin.isTTY !== true) return undefined;
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  try {
    return await rl.question(question);
  } catch {
    return undefined;
  } finally {
    rl.close();
  }
}

export const processIo: Io = {
  out: (s) => void process.stdout.write(s),
  err: (s) => void process.stderr.write(s),
  isTTY: process.stdout.isTTY === true,
  prompt: ask,
};

/** Exit codes (README "Exit codes"). */
export const EXIT = {
  OK: 0,
  FAILED: 1,
  INVALID: 2,
  CHANGES: 3,
  /** A destructive run was not confirmed (no terminal and no --yes, or the wrong answer). */
  REFUSED: 4,
  INTERRUPTED: 130,
} as const;

/** apply defaults (here so the CLI can show them without loading the executor). */
export const DEFAULT_FORKS = 10;
export const DEFAULT_JOURNAL_DIR = '.runbook/runs';
