// Command text travels on stdin, never in an exec request or an argv: `ps` on a host or on the
// controller shows this fixed reader, not a command that may hold a secret. The reader takes
// one line (the command, encoded so it has no newline) and evals it; the rest of stdin is the
// command's own. `read` takes stdin a byte at a time from a pipe (POSIX), so it never eats into
// the command's input. Run by the login shell, by `sh -c` under sudo, or by /bin/sh locally.

/**
 * Shell text that reads the encoded command line from stdin and runs it (its status is the
 * command's). The `x` keeps trailing newlines from being cut by the command substitution.
 */
export const READ_AND_EVAL = `IFS= read -r __rb_cmd && __rb_cmd=$(printf '%bx' "$__rb_cmd") && eval "\${__rb_cmd%x}"`;

/**
 * The line READ_AND_EVAL reads: each backslash doubled and each newline written as `\n`, which
 * is all `printf %b` then has to undo (every other escape it knows starts with a backslash).
 */
export function encodeCommandLine(cmd: string): string {
  if (cmd.includes('\0')) throw new TypeError('a command cannot contain a NUL byte');
  return `${cmd.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n`;
}
