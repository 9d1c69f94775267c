// Driving one remote command on an exec channel or in the session shell (both look like a
// CommandChannel): output capture, stdin, timeout and abort come from the shared CommandRun;
// what is SSH's own is the PID markers on stderr and how a command is stopped: kill its process
// group by PID (kill.ts), then close the channel.
import { Writable, type Readable } from 'node:stream';
import type { Client, ClientChannel } from 'ssh2';
import { CommandRun, type CommandRunOptions } from '../command-run.js';
import type { ExecResult } from '../transport.js';
import { PidMarkerFilter } from './pid-markers.js';
import type { SudoMode } from './remote-command.js';

/** How long a killed command may take to close its channel before we close it ourselves. */
const CLOSE_GRACE_MS = 1500;
/** How long a stop waits for the wrapper's PID report before closing the channel without a kill. */
const PID_WAIT_MS = 5000;

/** Exit statuses recorded as soon as a channel opens (see openExec). */
const exitStatuses = new WeakMap<object, { code: number | null; signal?: string }>();

/** The part of an exec channel that driveChannel() uses; a session-shell command provides it too. */
export interface CommandChannel {
  // EventEmitter's own listener type, so both an ssh2 channel and an EventEmitter fit.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  on(event: string, listener: (...args: any[]) => void): unknown;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly stderr: { on(event: string, listener: (...args: any[]) => void): unknown };
  signal(name: string): unknown;
  close(): unknown;
  write(chunk: Buffer): unknown;
  end(chunk?: string | Buffer): unknown;
  pause(): unknown;
  resume(): unknown;
}

export interface ChannelRun extends CommandRunOptions {
  /** Bytes written to stdin before `stdin`: the sudo password line and the command text. */
  stdinPrefix?: Buffer;
  stdin?: string | Buffer | Readable;
  /** Stream stdout here (with backpressure) instead of capturing it. */
  stdoutSink?: Writable;
  /** Number of PID markers the wrapper prints (0 for raw commands that cannot be killed by PID). */
  pidMarkers: number;
  /** Run the kill under sudo (become by a non-root login). */
  killSudo?: SudoMode;
}

/** What stopping a command needs of the transport. */
export interface StopHooks {
  host: string;
  kill(pids: number[], sudo: SudoMode | undefined): Promise<void>;
  log(msg: string): void;
}

/** Open an exec channel; `failed` turns an open error into the error to reject with. */
export function openExec(client: Client, command: string, failed: (err: Error) => Error, opened: () => void): Promise<ClientChannel> {
  return new Promise<ClientChannel>((resolve, reject) => {
    try {
      client.exec(command, (err, channel) => {
        if (err) {
          reject(failed(err));
          return;
        }
        opened();
        // ssh2 emits 'exit' when the packet is read, which for a fast command can be in this
        // very tick (the whole reply in one read), before an awaiting caller attaches listeners.
        channel.once('exit', (code: number | null, signal?: string) => {
          exitStatuses.set(channel, { code: typeof code === 'number' ? code : null, ...(typeof signal === 'string' ? { signal } : {}) });
        });
        resolve(channel);
      });
    } catch (err) {
      reject(failed(err as Error));
    }
  });
}

export function driveChannel(channel: CommandChannel, run: ChannelRun, started: number, hooks: StopHooks): Promise<ExecResult> {
  let exitCode: number | null = null;
  let exitSignal: string | undefined;
  let channelClosed = false;
  let stderrClosed = false;
  // A stopped command's result waits for its kill to finish, so nothing it started is still
  // running when exec returns (in the session shell the command can end before its children).
  let killed: Promise<void> | undefined;
  const cmd: CommandRun = new CommandRun(run, started, () => stop());
  const markers = new PidMarkerFilter(run.pidMarkers, (chunk) => cmd.stderrChunk(chunk));

  const finish = (): void => {
    if (cmd.done) return;
    markers.settle();
    const early = exitStatuses.get(channel);
    if (exitCode === null && early) {
      exitCode = early.code;
      exitSignal ??= early.signal;
    }
    cmd.finish(exitCode, exitSignal);
  };
  const maybeFinish = (): void => {
    if (!channelClosed || !stderrClosed) return;
    if (killed) void killed.then(finish);
    else finish();
  };
  const closeChannel = (): void => {
    if (cmd.done) return;
    try {
      channel.signal('KILL');
    } catch {
      // not supported / channel gone
    }
    try {
      channel.close();
    } catch {
      // already closed
    }
    const forceTimer = setTimeout(finish, CLOSE_GRACE_MS);
    cmd.onFinish(() => clearTimeout(forceTimer));
  };
  // Kill by PID group; if the wrapper has not reported its PID(s) yet (the command has hardly
  // started, or sudo is still deciding), wait a little for them.
  const stop = (): void => {
    let proceeded = false;
    const proceed = (): void => {
      if (proceeded || cmd.done) return;
      proceeded = true;
      clearTimeout(pidWait);
      const pids = markers.pids.slice();
      if (pids.length < run.pidMarkers) {
        hooks.log(
          `${hooks.host}: stopping a command that had not reported its PID${pids.length ? ' inside sudo' : ''} after ${PID_WAIT_MS / 1000} s: ` +
            'closing its channel; it may still run on the host (its outcome is unknown)',
        );
      }
      killed = pids.length > 0 ? hooks.kill(pids, run.killSudo) : Promise.resolve();
      void killed.finally(closeChannel);
    };
    const pidWait = setTimeout(proceed, PID_WAIT_MS);
    markers.whenSettled(proceed);
  };

  channel.on('exit', (code: number | null, signal?: string) => {
    exitCode = typeof code === 'number' ? code : null;
    if (typeof signal === 'string') exitSignal = signal;
  });
  const sink = run.stdoutSink;
  channel.on('data', (chunk: Buffer) => {
    if (!sink) return cmd.stdoutChunk(chunk);
    if (!sink.write(chunk)) {
      channel.pause();
      sink.once('drain', () => channel.resume());
    }
  });
  channel.stderr.on('data', (chunk: Buffer) => markers.push(chunk));
  channel.stderr.on('close', () => {
    stderrClosed = true;
    maybeFinish();
  });
  channel.on('close', () => {
    channelClosed = true;
    // stderr 'close' follows its 'end'; do not wait for it forever.
    setImmediate(() => {
      stderrClosed = true;
      maybeFinish();
    });
    maybeFinish();
  });
  channel.on('error', () => {
    // Surfaces as a close without exit status (code null).
  });

  cmd.arm();
  cmd.feed(channel, run.stdinPrefix, run.stdin, channel instanceof Writable ? channel : undefined);
  return cmd.result;
}
