// Where runbook writes and its exit codes: at the bottom so reporters and commands share them
// without importing the CLI.

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
