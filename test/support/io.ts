// The one captured Io of the tests: what runbook printed, by stream and interleaved, with an
// optional terminal answer for the confirmation prompt.
import type { Io } from '../../engine/model/io.js';

export interface CapturedIo extends Io {
  /** Everything written to stdout, joined. */
  stdout(): string;
  /** Everything written to stderr, joined. */
  stderr(): string;
  /** stdout and stderr in the order they were written (for messages and leak checks). */
  all(): string;
}

export interface CaptureOptions {
  isTTY?: boolean;
  /** The operator's answer to a prompt; without it there is no prompt (as without a terminal). */
  answer?: string;
}

export function captureIo(opts: CaptureOptions = {}): CapturedIo {
  const out: string[] = [];
  const err: string[] = [];
  const both: string[] = [];
  return {
    out: (s) => void (out.push(s), both.push(s)),
    err: (s) => void (err.push(s), both.push(s)),
    isTTY: opts.isTTY ?? false,
    ...(opts.answer !== undefined ? { prompt: () => Promise.resolve(opts.answer) } : {}),
    stdout: () => out.join(''),
    stderr: () => err.join(''),
    all: () => both.join(''),
  };
}
