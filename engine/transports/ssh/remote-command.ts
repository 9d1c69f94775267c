// What an SSH exec request and the session shell get for a command. On an exec channel sshd runs
// `$SHELL -c <request>`, which makes that shell a session and process-group leader. The request
// is fixed text: it prints the shell's PID on stderr behind a marker (stripped from the output,
// so a timeout can kill the group), then reads the command from stdin (shell/stdin-command.ts),
// so neither the request nor any argv on the host ever holds the command. With `become` the
// command runs as `sudo -n sh -c <reader>` (or `sudo -k -S` with the password line first on
// stdin), reporting its PID inside sudo too.
import { shq } from '../../shell/quote.js';
import { encodeCommandLine, READ_AND_EVAL } from '../../shell/stdin-command.js';

export type SudoMode = 'nopasswd' | 'password';

/** Marker line the wrapper prints on stderr before the command: `\x1eRUNBOOK-PID:<pid>\n`. */
export const PID_MARK = Buffer.from('\x1eRUNBOOK-PID:', 'latin1');
const REPORT_PID = `printf '\\036RUNBOOK-PID:%s\\n' "$$" >&2`;

export function sudoPrefix(mode: SudoMode): string {
  // -k: always ask for (read) the password, so the first stdin line is never passed to the command.
  return mode === 'password' ? "sudo -k -S -p '' --" : 'sudo -n --';
}

/** `sudo … sh -c <report PID; read and run the command>`: sudo's argv holds no command. */
function underSudo(sudo: SudoMode): string {
  return `${sudoPrefix(sudo)} sh -c ${shq(`${REPORT_PID}; ${READ_AND_EVAL}`)}`;
}

/** The exec request for a command on its own channel (the same for every command). */
export function execRequest(sudo?: SudoMode): string {
  return sudo === undefined ? `${REPORT_PID}; ${READ_AND_EVAL}` : `${REPORT_PID}; exec ${underSudo(sudo)}`;
}

/** What goes on the channel's stdin before the command's own input: the sudo password line, then the command. */
export function execStdinPrefix(cmd: string, sudo: SudoMode | undefined, sudoPassword: string | undefined): Buffer {
  const password = sudo === 'password' ? `${sudoPassword ?? ''}\n` : '';
  return Buffer.from(`${password}${encodeCommandLine(cmd)}`);
}

/**
 * A session-shell job body (the shell reports the job's PID itself; its text reaches the shell on
 * stdin). Under sudo the command goes to sudo's `sh` as a here-string, never on sudo's argv.
 */
export function shellJobBody(cmd: string, sudo?: SudoMode): string {
  if (sudo === undefined) return `eval ${shq(cmd)}`;
  return `exec ${underSudo(sudo)} <<< ${shq(encodeCommandLine(cmd).slice(0, -1))}`;
}
