// Controller-side transport (host "localhost"): commands run under /bin/sh in their own process
// group, so a timeout or abort kills everything the command started (TERM, ≤1 s grace, KILL); the
// command text reaches that shell on stdin, never on an argv. Same bounded output capture as SSH; put/get are local copies through a temp file in the
// destination directory, hashed on the way and verified before the rename.
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createHash } from 'node:crypto';
import { RunError } from '../model/errors.js';
import { encodeCommandLine, READ_AND_EVAL } from '../shell/stdin-command.js';
import { CommandRun, stoppedResult } from './command-run.js';
import { abortError, HashingStream, transferMode, now, randomSuffix } from './common.js';
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
    if (this.closed) throw new RunError('TRANSPORT_CLOSED', `${this.host}: transport is closed`);
    return Promise.resolve();
  }

  async close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  async exec(cmd: string, opts: ExecOptions = {}): Promise<ExecResult> {
    await this.connect();
    const started = now();
    if (opts.signal?.aborted) return stoppedResult(started, 'aborted');
    // The command goes on stdin (shell/stdin-command.ts): `ps` on the controller shows only the reader.
    let argv = ['/bin/sh', '-c', READ_AND_EVAL];
    let password = '';
    const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
    if (opts.become && !isRoot) {
      if (this.opts.sudoPassword !== undefined) {
        argv = ['sudo', '-k', '-S', '-p', '', '--', ...argv];
        password = `${this.opts.sudoPassword}\n`;
      } else {
        argv = ['sudo', '-n', '--', ...argv];
      }
    }
    const [file, ...args] = argv as [string, ...string[]];
    const child = spawn(file, args, { detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    const grace = this.opts.killGraceMs ?? 1000;
    let spawnError: Error | undefined;

    const killGroup = (sig: NodeJS.Signals): void => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, sig);
      } catch {
        // group already gone
      }
    };
    const run: CommandRun = new CommandRun(opts, started, () => {
      killGroup('SIGTERM');
      const killTimer = setTimeout(() => killGroup('SIGKILL'), grace);
      // If something outside the group still holds stdout/stderr open, stop waiting.
      const forceTimer = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        finish(null, null);
      }, grace + 1500);
      run.onFinish(() => {
        clearTimeout(forceTimer);
        // Whatever the command left behind in its group goes too once we stop waiting for it.
        clearTimeout(killTimer);
        killGroup('SIGKILL');
      });
    });
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (run.done) return;
      if (spawnError) run.stderr.push(Buffer.from(`runbook: cannot run ${file}: ${spawnError.message}\n`));
      run.finish(spawnError ? null : code, signal);
    };

    child.on('error', (err) => {
      spawnError = err;
      finish(null, null);
    });
    child.stdout.on('data', (chunk: Buffer) => run.stdoutChunk(chunk));
    child.stderr.on('data', (chunk: Buffer) => run.stderrChunk(chunk));
    // A stopped command's group may still hold pipes; `close` follows once they are gone.
    child.on('close', (code, signal) => finish(code, signal));

    run.arm();
    child.stdin.on('error', () => undefined); // EPIPE when the command does not read stdin
    run.feed(child.stdin, Buffer.from(`${password}${encodeCommandLine(cmd)}`), opts.stdin, child.stdin);
    return run.result;
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
    if (become && !isRoot) {
      throw new RunError('BECOME_FAILED', `${this.host}: ${what} with become is not supported on the controller (not running as root)`);
    }
  }

  /** Stream `source` to a temp file next to `dest`, verify its hash, set the mode, rename. */
  private async copyIn(source: Readable, dest: string, opts: { mode?: string; signal?: AbortSignal }, what: string): Promise<TransferResult> {
    const mode = transferMode(source, opts.mode);
    const dir = dirname(dest);
    try {
      if (!(await stat(dir)).isDirectory()) throw new Error('not a directory');
    } catch (err) {
      source.destroy();
      throw new RunError('TRANSFER_FAILED', `${what}: directory ${dir} does not exist (${(err as Error).message})`, { cause: err });
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
      if (written !== sha256) throw new RunError('CHECKSUM_MISMATCH', `${what}: checksum mismatch after copy (${sha256} vs ${written})`);
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
