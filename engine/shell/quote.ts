// POSIX shell quoting (a pure helper, below every layer that builds commands): every command string that is
// built from data (paths, modes, user commands wrapped in `sh -c`) goes through `shq`.

const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

/**
 * Quote `value` as one POSIX shell word.
 * Safe words (`[A-Za-z0-9_@%+=:,./-]+`) are returned as they are; everything else is wrapped in
 * single quotes, with each `'` written as `'\''`. The empty string becomes `''`.
 * A NUL byte cannot travel through a shell command line at all: it is rejected with a TypeError.
 * A leading `-` is kept as it is (quoting cannot hide it from the command): put `--` before
 * operands that may start with one.
 */
export function shq(value: string): string {
  if (value.includes('\0')) throw new TypeError('a shell word cannot contain a NUL byte');
  if (value === '') return "''";
  if (SAFE_WORD.test(value)) return value;
  return `'${value.replace(/'/g, "'\\''")}'`;
}

/** Quote every argument and join them with spaces: a ready-to-run command line. */
export function shqArgs(args: readonly string[]): string {
  return args.map(shq).join(' ');
}
