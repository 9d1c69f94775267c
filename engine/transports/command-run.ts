// One running command's bookkeeping, shared by the SSH and the local transport: bounded output
// capture, the timeout and abort signal that stop it, its stdin (a prefix such as a sudo
// password line, then the data, then EOF) and the result once it ends. How a command is stopped
// (a remote kill by PID, a local process-group signal) and when it has ended are the transport's.
import type { Readable } from 'node:stream';
import { BoundedOutput, DEFAULT_MAX_OUTPUT_BYTES, execResult, now } from './common.js';
import type { ExecResult } from './transport.js';

/** Why a command was stopped; 'stdin': its stdin stream failed (code null, neither flag set). */
export type StopReason = 'timedOut' | 'aborted' | 'stdin';

export interface CommandRunOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  maxOutputBytes?: number;
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
}

/** Where stdin goes: an ssh2 channel, a child's stdin pipe or a session-shell command. */
export interface StdinSink {
  write(chunk: Buffer): unknown;
  end(chunk?: string | Buffer): unknown;
}

export class CommandRun {
  readonly stdout: BoundedOutput;
  readonly stderr: BoundedOutput;
  stopped: StopReason | undefined;
  done = false;
  readonly result: Promise<ExecResult>;
  private resolveResult: (r: ExecResult) => void = () => undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly cleanups: (() => void)[] = [];
  private readonly onAbort = (): void => this.stop('aborted');

  /** `onStop` starts stopping the command (once); the transport calls finish() when it has ended. */
  constructor(
    private readonly opts: CommandRunOptions,
    private readonly started: number,
    private readonly onStop: (why: StopReason) => void,
  ) {
    const limit = opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    this.stdout = new BoundedOutput(limit);
    this.stderr = new BoundedOutput(limit);
    this.result = new Promise<ExecResult>((resolve) => {
      this.resolveResult = resolve;
    });
  }

  /** Start the timeout and listen to the abort signal (stops at once if it already fired). */
  arm(): void {
    const { timeoutMs, signal } = this.opts;
    if (timeoutMs !== undefined && timeoutMs > 0) this.timer = setTimeout(() => this.stop('timedOut'), timeoutMs);
    signal?.addEventListener('abort', this.onAbort, { once: true });
    if (signal?.aborted) this.stop('aborted');
  }

  stop(why: StopReason): void {
    if (this.stopped || this.done) return;
    this.stopped = why;
    this.onStop(why);
  }

  /** Run `fn` when the command finishes (timers of the transport's own). */
  onFinish(fn: () => void): void {
    this.cleanups.push(fn);
  }

  stdoutChunk(chunk: Buffer): void {
    this.stdout.push(chunk);
    this.opts.onStdout?.(chunk);
  }

  stderrChunk(chunk: Buffer): void {
    this.stderr.push(chunk);
    this.opts.onStderr?.(chunk);
  }

  /**
   * Feed stdin: `prefix` (e.g. the sudo password line and the command text), then `input`, then
   * EOF. A failing input stream stops the command: it never goes on with partial input.
   * `pipeTo` is the Writable to pipe a stream into (absent when the sink takes no streams).
   */
  feed(sink: StdinSink, prefix: Buffer | undefined, input: string | Buffer | Readable | undefined, pipeTo?: NodeJS.WritableStream): void {
    if (prefix && prefix.length > 0) sink.write(prefix);
    if (input === undefined) sink.end();
    else if (typeof input === 'string' || Buffer.isBuffer(input)) sink.end(input);
    else {
      input.on('error', (err: Error) => {
        this.stderrChunk(Buffer.from(`\n[runbook: stdin stream failed: ${err.message}; command stopped]\n`));
        if (pipeTo) input.unpipe(pipeTo);
        this.stop('stdin');
      });
      if (pipeTo) {
        input.pipe(pipeTo);
        this.onFinish(() => input.unpipe(pipeTo));
      } else input.emit('error', new Error('this channel takes no stdin'));
    }
  }

  /** The command has ended (or is given up on): resolve its result once. */
  finish(code: number | null, signal?: string | null): void {
    if (this.done) return;
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
    this.opts.signal?.removeEventListener('abort', this.onAbort);
    for (const fn of this.cleanups.splice(0)) fn();
    const result = execResult(this.stdout, this.stderr, { code, stopped: this.stopped, durationMs: now() - this.started });
    if (signal) result.signal = signal;
    this.resolveResult(result);
  }
}

/** The result of a command stopped before it started. */
export function stoppedResult(started: number, why: 'aborted' | 'timedOut'): ExecResult {
  return {
    code: null,
    stdout: '',
    stderr: '',
    truncated: false,
    timedOut: why === 'timedOut',
    aborted: why === 'aborted',
    durationMs: now() - started,
  };
}
