// The one interface the executor uses to touch a machine. Modules never talk to SSH directly.
import type { Readable } from 'node:stream';
import { RunError, type RunErrorCode } from '../model/errors.js';

export interface ExecOptions {
  /** Kill the remote command (and fail the step) after this long. */
  timeoutMs?: number;
  stdin?: string | Buffer | Readable;
  /** Keep at most this many bytes of each stream; the rest is dropped with a marker. */
  maxOutputBytes?: number;
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
  /** Aborting stops the remote command (SIGINT/SIGTERM handling). */
  signal?: AbortSignal;
  /** Run through `sudo -n` (or `sudo -S` when a password is configured). */
  become?: boolean;
}

/**
 * One command's result as one value.
 * `code` is null when the command's fate is unknown (connection dropped, killed by timeout/abort):
 * such a result is never a success.
 */
export interface ExecResult {
  code: number | null;
  signal?: string;
  stdout: string;
  stderr: string;
  truncated: boolean;
  timedOut: boolean;
  aborted: boolean;
  durationMs: number;
}

export interface TransferResult {
  bytes: number;
  sha256: string;
}

export interface Transport {
  readonly host: string;
  connect(): Promise<void>;
  exec(cmd: string, opts?: ExecOptions): Promise<ExecResult>;
  /**
   * Stream a controller file to `remotePath` (written to a temp name, then renamed), hashing on the way.
   * `become`: write (and read, for getFile) through sudo, like ExecOptions.become.
   */
  /** With expectedSha256 the copy is checked against it (no local hashing: the caller already knows the hash). */
  putFile(
    localPath: string,
    remotePath: string,
    opts?: { mode?: string; signal?: AbortSignal; become?: boolean; expectedSha256?: string },
  ): Promise<TransferResult>;
  putContent(content: string | Buffer, remotePath: string, opts?: { mode?: string; signal?: AbortSignal; become?: boolean }): Promise<TransferResult>;
  /** Copy a remote file to the controller (temp name, then rename), hashing on the way. */
  getFile(remotePath: string, localPath: string, opts?: { signal?: AbortSignal; become?: boolean }): Promise<TransferResult>;
  close(): Promise<void>;
}

/** Raised when `become` cannot work: sudo needs a password none was given, or the password is wrong. */
export class BecomeError extends RunError {
  constructor(
    readonly host: string,
    message: string,
  ) {
    super('BECOME_FAILED', message);
    this.name = 'BecomeError';
  }
}

export type UnreachableReason = 'connect' | 'timeout' | 'auth' | 'host-key' | 'dropped';

const UNREACHABLE_CODES: Record<UnreachableReason, RunErrorCode> = {
  connect: 'CONNECT_FAILED',
  timeout: 'CONNECT_TIMEOUT',
  auth: 'AUTH_FAILED',
  'host-key': 'HOST_KEY_REJECTED',
  dropped: 'CONNECTION_DROPPED',
};

/** Raised when a host cannot be reached or authenticated: the host leaves the play as unreachable. */
export class UnreachableError extends RunError {
  constructor(
    readonly host: string,
    message: string,
    readonly reason: UnreachableReason,
  ) {
    super(UNREACHABLE_CODES[reason], message);
    this.name = 'UnreachableError';
  }
}
