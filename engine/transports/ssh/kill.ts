// Stopping a remote command: OpenSSH ignores most channel signal requests, so closing a channel
// alone would leave the command running. Its process group (the wrapper reported the PID) is
// killed from a second exec channel: TERM, up to 1 s grace, KILL; under sudo when the command ran
// under sudo.
import type { ClientChannel } from 'ssh2';
import { shq } from '../../shell/quote.js';
import { sudoPrefix, type SudoMode } from './remote-command.js';

/**
 * Kill the process groups (or, failing that, the processes) of `pids`: TERM, ≤1 s grace, KILL.
 * `kill -SIG -PGID` without `--`: dash's kill builtin does not accept `--`.
 */
export function killScript(pids: number[]): string {
  const list = pids.map((p) => String(Math.trunc(p))).join(' ');
  return [
    `for p in ${list}; do kill -TERM -$p 2>/dev/null || kill -TERM $p 2>/dev/null; done`,
    'i=0',
    'while [ $i -lt 10 ]; do',
    `  a=0; for p in ${list}; do if kill -0 -$p 2>/dev/null || kill -0 $p 2>/dev/null; then a=1; fi; done`,
    '  [ $a = 0 ] && exit 0',
    '  sleep 0.1 2>/dev/null || sleep 1; i=$((i+1))',
    'done',
    `for p in ${list}; do kill -KILL -$p 2>/dev/null; kill -KILL $p 2>/dev/null; done`,
    'exit 0',
  ].join('\n');
}

/** What the kill queue needs of the transport. */
export interface KillConnection {
  readonly host: string;
  readonly sudoPassword: string | undefined;
  /** An opener for exec channels on the current connection, or undefined when it is gone. */
  opener(): ((command: string) => Promise<ClientChannel>) | undefined;
  log(msg: string): void;
  /** Counts kill channels (stats). */
  opened(): void;
}

/**
 * One kill channel at a time per connection: kills asked for meanwhile share the next one (one
 * script, all their PIDs), so many commands timing out together never need more sessions than
 * sshd allows (MaxSessions, 10 by default) and none waits for more than two kills.
 */
export class KillQueue {
  private readonly queue: { pids: number[]; sudo: SudoMode | undefined; done: () => void }[] = [];
  private draining: Promise<void> | undefined;

  constructor(private readonly conn: KillConnection) {}

  /** Kill these process groups; resolves once they are gone. Never rejects. */
  kill(pids: number[], sudo: SudoMode | undefined): Promise<void> {
    return new Promise<void>((resolve) => {
      this.queue.push({ pids, sudo, done: resolve });
      this.draining ??= this.drain();
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0);
      // sudo and non-sudo kills cannot share a script.
      for (const mode of new Set(batch.map((k) => k.sudo))) {
        const part = batch.filter((k) => k.sudo === mode);
        await this.killNow(
          part.flatMap((k) => k.pids),
          mode,
        );
        for (const k of part) k.done();
      }
    }
    this.draining = undefined;
  }

  private async killNow(pids: number[], sudo: SudoMode | undefined): Promise<void> {
    const open = this.conn.opener();
    if (!open) return;
    const script = killScript(pids);
    const command = sudo === undefined ? `sh -c ${shq(script)}` : `${sudoPrefix(sudo)} sh -c ${shq(script)}`;
    try {
      // Not through the channel limit: a kill must not wait behind the command it kills. A
      // session that just closed may not be freed by sshd yet: try the open a few times.
      let channel: ClientChannel | undefined;
      for (let attempt = 1; channel === undefined; attempt++) {
        try {
          channel = await open(command);
        } catch (err) {
          if (attempt >= 3 || this.conn.opener() !== open) throw err;
          await new Promise((r) => setTimeout(r, 200 * attempt));
        }
      }
      this.conn.opened();
      await waitForClose(channel, sudo === 'password' ? `${this.conn.sudoPassword ?? ''}\n` : undefined);
    } catch (err) {
      this.conn.log(`${this.conn.host}: could not kill remote process group(s) ${pids.join(',')}: ${(err as Error).message}`);
    }
  }
}

/** Send `input` (or nothing) and wait up to 10 s for the kill channel to close. */
function waitForClose(channel: ClientChannel, input: string | undefined): Promise<void> {
  return new Promise<void>((resolve) => {
    const t = setTimeout(() => {
      channel.close();
      resolve();
    }, 10_000);
    channel.on('close', () => {
      clearTimeout(t);
      resolve();
    });
    channel.on('data', () => undefined);
    channel.stderr.on('data', () => undefined);
    channel.on('error', () => undefined);
    if (input !== undefined) channel.end(input);
    else channel.end();
  });
}
