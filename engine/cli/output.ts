// The process's own Io (stdout, stderr, a terminal prompt) and the CLI's defaults.
import { createInterface } from 'node:readline/promises';
import type { Io } from '../model/io.js';

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

/** apply defaults (here so the CLI can show them without loading the executor). */
export const DEFAULT_FORKS = 10;
export const DEFAULT_JOURNAL_DIR = '.runbook/runs';
