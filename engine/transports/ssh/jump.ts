// ProxyJump: a host behind a jump host is reached through a direct-tcpip channel of the jump
// host's own (already configured, host-key checked) connection.
import type { Client, ClientChannel } from 'ssh2';
import { RunError } from '../../model/errors.js';
import { UnreachableError } from '../transport.js';

/** What a host needs of its jump host's transport. */
export interface JumpHost {
  readonly host: string;
  connect(): Promise<void>;
  forwardOut(address: string, port: number, timeoutMs: number): Promise<ClientChannel>;
}

/** Open a direct-tcpip channel from `client` (the jump host's connection) to address:port. */
export function forwardOut(client: Client, address: string, port: number, timeoutMs: number): Promise<ClientChannel> {
  return new Promise<ClientChannel>((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => {
      done = true;
      reject(new RunError('TUNNEL_TIMEOUT', `no answer within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    try {
      client.forwardOut('127.0.0.1', 0, address, port, (err, channel) => {
        clearTimeout(timer);
        if (done) {
          if (!err) channel.close();
          return;
        }
        done = true;
        if (err) reject(new RunError('TUNNEL_FAILED', err.message, { cause: err }));
        else resolve(channel);
      });
    } catch (err) {
      clearTimeout(timer);
      reject(new RunError('TUNNEL_FAILED', err instanceof Error ? err.message : String(err), { cause: err }));
    }
  });
}

/** A tunnel to `address:port` through `jump`; failures are the target host's UnreachableError. */
export async function tunnelThrough(host: string, jump: JumpHost, address: string, port: number, timeoutMs: number): Promise<ClientChannel> {
  try {
    await jump.connect();
  } catch (err) {
    if (err instanceof UnreachableError) throw new UnreachableError(host, `${host}: jump host unreachable: ${err.message}`, err.reason);
    throw err;
  }
  try {
    return await jump.forwardOut(address, port, timeoutMs);
  } catch (err) {
    if (err instanceof UnreachableError) throw new UnreachableError(host, `${host}: jump host ${jump.host}: ${err.message}`, err.reason);
    const timedOut = err instanceof RunError && err.code === 'TUNNEL_TIMEOUT';
    // sshd answers a refused forwarding with reason 1, "administratively prohibited".
    const prohibited = (err as { reason?: unknown }).reason === 1 || ((err as Error).cause as { reason?: unknown } | undefined)?.reason === 1;
    throw new UnreachableError(
      host,
      `${host}: jump host ${jump.host} could not open a tunnel to ${address}:${port}: ${(err as Error).message}` +
        (prohibited ? ' (is AllowTcpForwarding enabled on the jump host?)' : ''),
      timedOut ? 'timeout' : 'connect',
    );
  }
}
