// The session shell: one long-lived bash per connection that runs commands one at a time, so a
// command costs a fork of that shell instead of a new SSH session (channel, sshd's session
// set-up, a login shell starting). At 30 hosts on a small controller that is most of what a
// trivial step costs.
//
// Each command runs as a background job of the shell, with job control on, so it gets its own
// process group (as sshd gives each exec its own session): the shell reports the job's PID and a
// timeout kills that whole group, exactly as for a command on its own channel:
//   ( set +m; eval '<command>' ) </dev/null 2>&3 3>&- & p=$!; <report p>; wait $p
// (see SESSION_SHELL_COMMAND)
// Then the shell prints an end marker with the exit status on stdout and on stderr; the marker
// names this shell's random tag and the command's sequence number, so no output (not even from a
// background process of an earlier command) can end a command early.
//
// It is used only where it runs commands as an exec channel would: the login shell is bash (so
// the interpreter is the same), and job control gives jobs their own process group (checked
// through /proc). Otherwise, or if it does not answer, the host keeps one exec channel per
// command. Differences from an exec channel, documented in the README: ~/.bashrc runs once per
// connection instead of once per command; `$$` is the session shell's PID (as in any subshell;
// $BASHPID is the command's); a command killed by a signal reports 128+N, as in any shell.
//
// Anything unusual makes the shell unusable, never a guess: a channel that closes before both
// markers arrived gives the command no exit status (outcome unknown, as a dropped exec channel
// does), and the next command gets a new shell.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { ClientChannel } from 'ssh2';
import { shq } from '../shell/quote.js';
import { RunError } from '../model/errors.js';

/** What the shell prints once it is ready (or not). */
const READY = '\x1eRUNBOOK-SHELL:';
/**
 * The exec channel's command, run by the login shell itself (sshd's `$SHELL -c`, after
 * ~/.bashrc), so no second shell starts. fd 3 becomes the channel's stderr and fd 2 /dev/null,
 * so the shell's own job messages ("Killed", …) never reach a command's output. Then it reads
 * NUL-terminated lines `__rb_run BODY ID` from stdin: BODY runs as a job with no positional
 * parameters and stdin from /dev/null; the shell reports the job's PID, then the end markers.
 */
export const SESSION_SHELL_COMMAND = `if [ -n "$BASH_VERSION" ] && [ "\${SHELL##*/}" = bash ]; then
set -m
( set +m; read -r s < /proc/self/stat; s=\${s##*") "}; set -- $s; [ "$3" = "$BASHPID" ] ) 2>/dev/null &
if wait $!; then
__rb_run() {
( set +m; __rb_body=$1; set --; eval "$__rb_body"
) </dev/null 2>&3 3>&- &
__rb_p=$!
printf '\\036RUNBOOK-PID:%s\\n' "$__rb_p" >&3
wait "$__rb_p"; __rb=$?
printf '\\036\\037RUNBOOK-END:%s:%d\\n' "$2" "$__rb"
printf '\\036\\037RUNBOOK-END:%s:%d\\n' "$2" "$__rb" >&3
}
exec 3>&2 2>/dev/null; printf '\\036RUNBOOK-SHELL:ready\\n'
while IFS= read -r -d '' __rb_line; do eval "$__rb_line"; done
else printf '\\036RUNBOOK-SHELL:no-job-control\\n'; fi
else printf '\\036RUNBOOK-SHELL:not-bash\\n'; fi`;
/** How long a stopped command may take to print its end markers before the shell is given up. */
const STOP_GRACE_MS = 1000;

/**
 * Splits one stream at `<mark><status>\n`: bytes before it go to `out`, the status to `end`.
 * The mark starts with two control bytes (\x1e\x1f), so a tail of ordinary output is never held
 * back waiting to see whether it is a marker (a held newline would delay the PID report).
 */
export class EndMarkerSplitter {
  private held: Buffer = Buffer.alloc(0);
  private ended = false;

  constructor(
    private readonly mark: Buffer,
    private readonly out: (chunk: Buffer) => void,
    private readonly end: (status: string) => void,
  ) {}

  push(chunk: Buffer): void {
    if (this.ended) return; // after the marker: stray output of a background process, not this command's
    const buf = this.held.length > 0 ? Buffer.concat([this.held, chunk]) : chunk;
    this.held = Buffer.alloc(0);
    const at = buf.indexOf(this.mark);
    if (at !== -1) {
      const nl = buf.indexOf(0x0a, at + this.mark.length);
      if (nl === -1) {
        if (at > 0) this.out(buf.subarray(0, at));
        this.held = Buffer.from(buf.subarray(at));
        return;
      }
      if (at > 0) this.out(buf.subarray(0, at));
      this.ended = true;
      this.end(buf.subarray(at + this.mark.length, nl).toString('latin1'));
      return;
    }
    // Hold back a tail that could be the start of the marker.
    let keep = 0;
    const first = this.mark[0] ?? 0;
    for (let i = buf.indexOf(first, Math.max(0, buf.length - this.mark.length + 1)); i !== -1; i = buf.indexOf(first, i + 1)) {
      if (this.mark.subarray(0, buf.length - i).equals(buf.subarray(i))) {
        keep = buf.length - i;
        break;
      }
    }
    if (buf.length > keep) this.out(buf.subarray(0, buf.length - keep));
    if (keep > 0) this.held = Buffer.from(buf.subarray(buf.length - keep));
  }
}

/**
 * One command running in the session shell, shaped like the part of an ssh2 exec channel that
 * the transport's drive() uses: 'data', stderr 'data', 'exit' (status), then 'close' (stderr
 * and channel). It has no stdin (the command's stdin is /dev/null).
 */
export class ShellCommand extends EventEmitter {
  readonly stderr = new EventEmitter();
  private stdoutStatus: string | undefined;
  private stderrStatus: string | undefined;
  private closed = false;
  private graceTimer: NodeJS.Timeout | undefined;
  readonly splitOut: EndMarkerSplitter;
  readonly splitErr: EndMarkerSplitter;

  constructor(
    mark: Buffer,
    private readonly shell: SessionShell,
  ) {
    super();
    this.splitOut = new EndMarkerSplitter(
      mark,
      (b) => this.emit('data', b),
      (s) => this.ended('out', s),
    );
    this.splitErr = new EndMarkerSplitter(
      mark,
      (b) => this.stderr.emit('data', b),
      (s) => this.ended('err', s),
    );
  }

  private ended(stream: 'out' | 'err', status: string): void {
    if (stream === 'out') this.stdoutStatus = status;
    else this.stderrStatus = status;
    if (this.stdoutStatus === undefined || this.stderrStatus === undefined) return;
    const code = /^[0-9]{1,3}$/.test(this.stdoutStatus) && this.stdoutStatus === this.stderrStatus ? Number(this.stdoutStatus) : null;
    if (code === null)
      this.shell.destroy(); // markers that disagree: nothing on this shell can be trusted
    else this.emit('exit', code);
    this.finish();
  }

  /** The shell went away before this command ended: no exit status (outcome unknown). */
  lost(): void {
    this.finish();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.shell.commandDone(this);
    this.stderr.emit('close');
    this.emit('close');
  }

  // The channel calls drive() makes. There is no remote signal or stdin to send.
  signal(_name: string): void {}
  write(_chunk: Buffer): void {}
  end(_chunk?: string | Buffer): void {}
  pause(): void {}
  resume(): void {}

  /**
   * Asked to close (after a stop killed the command's process group): wait briefly for the end
   * markers, then give the shell up, so a command that survived the kill cannot hold it.
   */
  close(): void {
    if (this.closed || this.graceTimer) return;
    this.graceTimer = setTimeout(() => this.shell.destroy(), STOP_GRACE_MS);
  }
}

export class SessionShell {
  private readonly tag = randomBytes(8).toString('hex');
  private seq = 0;
  private current: ShellCommand | undefined;
  private dead = false;

  private constructor(private readonly channel: ClientChannel) {
    channel.on('data', (b: Buffer) => this.current?.splitOut.push(b));
    channel.stderr.on('data', (b: Buffer) => this.current?.splitErr.push(b));
    channel.on('close', () => this.gone());
    channel.on('error', () => this.gone());
  }

  /**
   * Wait for the shell on an exec channel opened with SESSION_SHELL_COMMAND to say it can run
   * commands as jobs in their own process group. Resolves undefined (channel closed) when it cannot.
   */
  static start(channel: ClientChannel, timeoutMs: number): Promise<SessionShell | undefined> {
    return new Promise((resolve) => {
      let seen = '';
      const settle = (shell: SessionShell | undefined): void => {
        clearTimeout(timer);
        channel.removeListener('data', onData);
        channel.removeListener('close', onClose);
        if (!shell) channel.close();
        resolve(shell);
      };
      const onData = (b: Buffer): void => {
        // Login-shell noise may come first; only the ready line counts.
        seen = (seen + b.toString('latin1')).slice(-4096);
        const at = seen.indexOf(READY);
        const nl = at === -1 ? -1 : seen.indexOf('\n', at);
        if (nl === -1) return;
        settle(seen.slice(at + READY.length, nl) === 'ready' ? new SessionShell(channel) : undefined);
      };
      const onClose = (): void => settle(undefined);
      const timer = setTimeout(() => settle(undefined), timeoutMs);
      channel.on('data', onData);
      channel.stderr.on('data', () => undefined);
      channel.on('close', onClose);
      channel.on('error', () => undefined);
    });
  }

  get usable(): boolean {
    return !this.dead && this.current === undefined;
  }

  get alive(): boolean {
    return !this.dead;
  }

  /**
   * Run `body` (see shellJobBody in ssh/remote-command.ts: the command without the wrapper's PID
   * report, which the shell makes itself) as a job; the shell must be usable.
   */
  run(body: string): ShellCommand {
    if (!this.usable) throw new RunError('SHELL_BUSY', 'session shell is busy or gone');
    const id = `${this.tag}-${++this.seq}`;
    const cmd = new ShellCommand(Buffer.from(`\x1e\x1fRUNBOOK-END:${id}:`, 'latin1'), this);
    this.current = cmd;
    this.channel.write(`__rb_run ${shq(body)} ${id}\0`);
    return cmd;
  }

  commandDone(cmd: ShellCommand): void {
    if (this.current === cmd) this.current = undefined;
  }

  /** Give the shell up (closing its channel): the running command, if any, ends without status. */
  destroy(): void {
    if (this.dead) return;
    this.dead = true;
    try {
      this.channel.close();
    } catch {
      // already closed
    }
    this.gone();
  }

  /** End the shell's input: its read loop ends and it exits (the connection is closing anyway). */
  end(): void {
    if (this.dead) return;
    this.dead = true;
    try {
      this.channel.end();
    } catch {
      // already closed
    }
  }

  private gone(): void {
    this.dead = true;
    const cmd = this.current;
    this.current = undefined;
    cmd?.lost();
  }
}
