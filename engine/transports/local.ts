// Controller-side transport (host "localhost"): commands run under /bin/sh -c in their own
// process group, so a timeout or abort kills everything the command started (TERM, ≤1 s grace,
// KILL). Same bounded output capture as SSH; put/get are local copies through a temp file in the
// destination directory, hashed on the way and verified before the rename.
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createHash } from 'node:crypto';
import { abortError, BoundedOutput, execResult, DEFAULT_MAX_OUTPUT_BYTES, HashingStream, transferMode, now, randomSuffix } from './common.js';
import type { ExecOptions, ExecResult, TransferResult, Transport } from './transport.js';

export interface LocalTransportOptions {
  /** Password for `sudo -S` when `become` is used by a non-root controller user. */
  sudoPassword?: string;
  /** Grace between TERM and KILL when stopping a command. Default 1000 ms. */
  killGraceMs?: number;
}

export class LocalTransport implements Transport {
  readonly host: string;
  private readonly opts: LocalTransportOptions;
  private closed = false;

  constructor(host = 'localhost', options: LocalTransportOptions = {}) {
    this.host = host;
    this.opts = options;
  }

  async connect(): Promise<void> {
    if (this.closed) throw new Error(`${this.host}: transport is closed`);
    return Promise.resolve();
  }

  async close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  async exec(cmd: string, opts: ExecOptions = {}): Promise<ExecResult> {
    await this.connect();
    const started = now();
    const limit = opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    const stdout = new BoundedOutput(limit);
    const stderr = new BoundedOutput(limit);
    if (opts.signal?.aborted) {
      return { code: null, stdout: '', stderr: '', truncated: false, timedOut: false, aborted: true, durationMs: 0 };
    }
    let argv = ['/bin/sh', '-c', cmd];
    let stdinPrefix: Buffer | undefined;
    const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
    if (opts.become && !isRoot) {
      if (this.opts.sudoPassword !== undefined) {
        argv = ['sudo', '-k', '-S', '-p', '', '--', ...argv];
        stdinPrefix = Buffer.from(`${this.opts.sudoPassword}\n`);
      } else {
        argv = ['sudo', '-n', '--', ...argv];
      }
    }
    const [file, ...args] = argv as [string, ...string[]];
    const child = spawn(file, args, { detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    const grace = this.opts.killGraceMs ?? 1000;

    return new Promise<ExecResult>((resolve) => {
      // 'stdin': the stdin stream failed, so the command was stopped (code null, neither flag).
      let stopped: 'timedOut' | 'aborted' | 'stdin' | undefined;
      let done = false;
      let timer: NodeJS.Timeout | undefined;
      let killTimer: NodeJS.Timeout | undefined;
      let forceTimer: NodeJS.Timeout | undefined;
      let spawnError: Error | undefined;

      const killGroup = (sig: NodeJS.Signals): void => {
        if (child.pid === undefined) return;
        try {
          process.kill(-child.pid, sig);
        } catch {
          // group already gone
        }
      };
      const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
        if (done) return;
        done = true;
        if (timer) clearTimeout(timer);
        if (forceTimer) clearTimeout(forceTimer);
        opts.signal?.removeEventListener('abort', onAbort);
        // Whatever the command left behind in its group goes too once we stop waiting for it.
        if (stopped) {
          if (killTimer) clearTimeout(killTimer);
          killGroup('SIGKILL');
        }
        if (spawnError) stderr.push(Buffer.from(`runbook: cannot run ${file}: ${spawnError.message}\n`));
        const result = execResult(stdout, stderr, { code: spawnError ? null : code, stopped, durationMs: now() - started });
        if (signal) result.signal = signal;
        resolve(result);
      };
      const stop = (why: 'timedOut' | 'aborted' | 'stdin'): void => {
        if (stopped || done) return;
        stopped = why;
        killGroup('SIGTERM');
        killTimer = setTimeout(() => killGroup('SIGKILL'), grace);
        // If something outside the group still holds stdout/stderr open, stop waiting.
        forceTimer = setTimeout(() => {
          child.stdout.destroy();
          child.stderr.destroy();
          finish(null, null);
        }, grace + 1500);
      };
      const onAbort = (): void => stop('aborted');

      child.on('error', (err) => {
        spawnError = err;
        finish(null, null);
      });
      child.stdout.on('data', (chunk: Buffer) => {
        stdout.push(chunk);
        opts.onStdout?.(chunk);
      });
      child.stderr.on('data', (chunk: Buffer) => {
        stderr.push(chunk);
        opts.onStderr?.(chunk);
      });
      child.on('close', (code, signal) => finish(code, signal));
      child.on('exit', () => {
        // A stopped command's group may still hold pipes; `close` follows once they are gone.
      });

      if (opts.timeoutMs !== undefined && opts.timeoutMs > 0) timer = setTimeout(() => stop('timedOut'), opts.timeoutMs);
      opts.signal?.addEventListener('abort', onAbort, { once: true });

      child.stdin.on('error', () => undefined); // EPIPE when the command does not read stdin
      if (stdinPrefix) child.stdin.write(stdinPrefix);
      const input = opts.stdin;
      if (input === undefined) child.stdin.end();
      else if (typeof input === 'string' || Buffer.isBuffer(input)) child.stdin.end(input);
      else {
        input.on('error', (err) => {
          // Never let the command go on with partial input: stop it; the result has code null.
          const note = Buffer.from(`\n[runbook: stdin stream failed: ${err.message}; command stopped]\n`);
          stderr.push(note);
          opts.onStderr?.(note);
          input.unpipe(child.stdin);
          stop('stdin');
        });
        input.pipe(child.stdin);
      }
    });
  }

  async putFile(
    localPath: string,
    remotePath: string,
    opts: { mode?: string; signal?: AbortSignal; become?: boolean; expectedSha256?: string } = {},
  ): Promise<TransferResult> {
    this.checkBecome(opts.become, 'put');
    const fh = await open(localPath, 'r');
    return this.copyIn(createReadStream('', { fd: fh }), remotePath, opts, `${this.host}: put ${remotePath}`);
  }

  async putContent(
    content: string | Buffer,
    remotePath: string,
    opts: { mode?: string; signal?: AbortSignal; become?: boolean } = {},
  ): Promise<TransferResult> {
    this.checkBecome(opts.become, 'put');
    const data = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
    return this.copyIn(Readable.from([data]), remotePath, opts, `${this.host}: put ${remotePath}`);
  }

  async getFile(remotePath: string, localPath: string, opts: { signal?: AbortSignal; become?: boolean } = {}): Promise<TransferResult> {
    this.checkBecome(opts.become, 'get');
    const fh = await open(remotePath, 'r');
    const copy: { mode: string; signal?: AbortSignal } = { mode: '0600' };
    if (opts.signal) copy.signal = opts.signal;
    return this.copyIn(createReadStream('', { fd: fh }), localPath, copy, `${this.host}: get ${remotePath}`);
  }

  /** Local transfers run as the controller user; `become` is only honoured when that is root. */
  private checkBecome(become: boolean | undefined, what: string): void {
    const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
    if (become && !isRoot) throw new Error(`${this.host}: ${what} with become is not supported on the controller (not running as root)`);
  }

  /** Stream `source` to a temp file next to `dest`, verify its hash, set the mode, rename. */
  private async copyIn(
    source: Readable,
    dest: string,
    opts: { mode?: string; signal?: AbortSignal },
    what: string,
  ): Promise<TransferResult> {
    const mode = transferMode(source, opts.mode);
    const dir = dirname(dest);
    try {
      if (!(await stat(dir)).isDirectory()) throw new Error('not a directory');
    } catch (err) {
      source.destroy();
      throw new Error(`${what}: directory ${dir} does not exist (${(err as Error).message})`, { cause: err });
    }
    const tmp = join(dir, `.${basename(dest)}.runbook-tmp-${randomSuffix()}`);
    const hashing = new HashingStream();
    const sink: Writable = createWriteStream(tmp, { flags: 'wx', mode: 0o600 });
    try {
      await pipeline(source, hashing, sink, opts.signal ? { signal: opts.signal } : {});
      const sha256 = hashing.digest();
      const check = createHash('sha256');
      await pipeline(createReadStream(tmp), check);
      const written = check.digest('hex');
      if (written !== sha256) throw new Error(`${what}: checksum mismatch after copy (${sha256} vs ${written})`);
      let finalMode: number | undefined;
      if (mode !== undefined) finalMode = parseInt(mode, 8);
      else {
        const existing = await stat(dest).catch(() => undefined);
        finalMode = existing ? existing.mode & 0o7777 : 0o666 & ~process.umask();
      }
      await chmod(tmp, finalMode);
      await rename(tmp, dest);
      return { bytes: hashing.bytes, sha256 };
    } catch (err) {
      await rm(tmp, { force: true });
      if (opts.signal?.aborted) throw abortError(opts.signal, what);
      throw err;
    }
  }
}
