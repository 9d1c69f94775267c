// How `become` works on a connection: not at all for a root login (unless alwaysSudo); otherwise
// sudo is probed once for whether it needs a password, and the configured one is checked once (a
// wrong password must not be retried on every step: that is slow and can lock the account).
import type { ExecResult } from '../transport.js';
import { BecomeError } from '../transport.js';
import type { ChannelRun } from './channel.js';
import type { SudoMode } from './remote-command.js';

export async function probeSudo(
  peer: { host: string; target: string },
  sudoPassword: string | undefined,
  runChannel: (run: ChannelRun & { command: string }) => Promise<ExecResult>,
): Promise<SudoMode> {
  const h = peer.host;
  const nopass = await runChannel({ command: 'sudo -n true', pidMarkers: 0, timeoutMs: 15_000, maxOutputBytes: 4096 });
  if (nopass.code === 0) return 'nopasswd';
  if (sudoPassword === undefined) {
    const why = nopass.stderr.trim() || `exit ${nopass.code}`;
    throw new BecomeError(h, `${h}: become failed: sudo on ${peer.target} needs a password and none was given (${why})`);
  }
  const withPw = await runChannel({
    command: "sudo -k -S -p '' -- true",
    pidMarkers: 0,
    stdin: `${sudoPassword}\n`,
    timeoutMs: 30_000,
    maxOutputBytes: 4096,
  });
  if (withPw.code === 0) return 'password';
  const why = withPw.timedOut ? 'timed out' : withPw.stderr.trim() || `exit ${withPw.code}`;
  throw new BecomeError(h, `${h}: become failed: sudo on ${peer.target} rejected the given password (${why})`);
}
