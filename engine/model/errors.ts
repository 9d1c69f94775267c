// Run-time failures (transport, execution, etcd) carry a code from this fixed list, the way
// eemeli/yaml's errors carry an ErrorCode: callers and tests branch on the code, never on the
// message text. Input problems are Diagnostics (diagnostics.ts), not errors.

export type RunErrorCode =
  // Reaching a host (the host leaves the play as unreachable).
  | 'CONNECT_FAILED'
  | 'CONNECT_TIMEOUT'
  | 'AUTH_FAILED'
  | 'HOST_KEY_REJECTED'
  | 'CONNECTION_DROPPED'
  // Using a connection.
  | 'TRANSPORT_CLOSED'
  | 'CHANNEL_OPEN_FAILED'
  | 'TUNNEL_FAILED'
  | 'TUNNEL_TIMEOUT'
  | 'BECOME_FAILED'
  | 'SHELL_BUSY'
  // Transfers.
  | 'TRANSFER_FAILED'
  | 'CHECKSUM_MISMATCH'
  | 'BAD_FILE_MODE'
  | 'ABORTED'
  // Execution.
  | 'LOCK_FAILED'
  | 'INTERRUPTED'
  | 'BAD_RUN_ID'
  | 'NOT_A_JOURNAL'
  // etcd.
  | 'ETCD_NOT_A_MEMBER'
  | 'ETCD_UNKNOWN_OP';

export class RunError extends Error {
  constructor(
    readonly code: RunErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'RunError';
  }
}

/** The message of anything thrown. */
export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
