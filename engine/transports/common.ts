// Pieces shared by the SSH and local transports: bounded output capture, hashing streams,
// file-mode validation and temp names.
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { RunError } from '../model/errors.js';
import type { ExecResult } from './transport.js';

/** Default per-stream capture bound (ExecOptions.maxOutputBytes). */
export const DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024;

/**
 * Collects one output stream up to `limit` bytes; the rest is counted and dropped, so memory stays
 * bounded whatever the command prints. Decoding happens once at the end (UTF-8 with U+FFFD for
 * invalid sequences), so multi-byte characters split across chunks survive.
 */
export class BoundedOutput {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  private seen = 0;

  constructor(readonly limit: number = DEFAULT_MAX_OUTPUT_BYTES) {
    if (!Number.isFinite(limit) || limit < 0) throw new RangeError(`maxOutputBytes must be >= 0, got ${limit}`);
  }

  push(chunk: Buffer): void {
    this.seen += chunk.length;
    if (this.kept >= this.limit) return;
    const room = this.limit - this.kept;
    // Copy slices so a kept fragment does not pin a larger pooled buffer.
    const part = chunk.length <= room ? chunk : Buffer.from(chunk.subarray(0, room));
    this.chunks.push(part);
    this.kept += part.length;
  }

  get truncated(): boolean {
    return this.seen > this.limit;
  }

  get totalBytes(): number {
    return this.seen;
  }

  text(): string {
    const body = Buffer.concat(this.chunks, this.kept).toString('utf8');
    if (!this.truncated) return body;
    return `${body}\n[runbook: output truncated after ${this.limit} bytes, ${this.seen - this.limit} more bytes dropped]`;
  }
}

/** A pass-through stream that hashes (SHA-256) and counts what flows through it. */
export class HashingStream extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private hashing = true;
  bytes = 0;

  /** Only count bytes (the caller checks against a hash it already knows). */
  skipHash(): void {
    this.hashing = false;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.hashing) this.hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }

  /** Hex digest; call once, after the stream has ended. */
  digest(): string {
    return this.hash.digest('hex');
  }
}

/** Octal modes only (`644`, `0600`, `2755`): symbolic modes are rejected so nothing odd reaches chmod. */
export function normalizeMode(mode: string | undefined): string | undefined {
  if (mode === undefined) return undefined;
  if (!/^[0-7]{3,4}$/.test(mode)) throw new RunError('BAD_FILE_MODE', `invalid file mode ${JSON.stringify(mode)}: expected octal like "0644"`);
  return mode.length === 3 ? `0${mode}` : mode;
}

/** normalizeMode for a transfer: an invalid mode drops the source stream before the error is thrown. */
export function transferMode(source: { destroy: () => void }, mode: string | undefined): string | undefined {
  try {
    return normalizeMode(mode);
  } catch (err) {
    source.destroy();
    throw err;
  }
}

export function randomSuffix(): string {
  return randomBytes(6).toString('hex');
}

/** The error transfers throw when their AbortSignal fires. */
export function abortError(signal: AbortSignal | undefined, what: string): Error {
  const err = new RunError('ABORTED', `${what}: aborted`, signal?.reason !== undefined ? { cause: signal.reason } : undefined);
  err.name = 'AbortError';
  return err;
}

/** Unix time-ish wall clock in ms with sub-ms precision, for durations. */
export function now(): number {
  return performance.now();
}

/** One command's result from its captured streams. A stopped command (timeout, abort, failed stdin) has no exit code. */
export function execResult(
  stdout: BoundedOutput,
  stderr: BoundedOutput,
  end: { code: number | null; stopped?: 'timedOut' | 'aborted' | 'stdin' | undefined; durationMs: number },
): ExecResult {
  return {
    code: end.stopped ? null : end.code,
    stdout: stdout.text(),
    stderr: stderr.text(),
    truncated: stdout.truncated || stderr.truncated,
    timedOut: end.stopped === 'timedOut',
    aborted: end.stopped === 'aborted',
    durationMs: end.durationMs,
  };
}
