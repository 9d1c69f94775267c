// Opening the one SSH connection of a host: authentication (auth.ts), the host key policy
// (host-key.ts), an optional tunnel through a jump host (jump.ts), then the handshake. Errors
// before `ready` become the host's UnreachableError, each with its reason.
import ssh2 from 'ssh2';
import type { Client, ClientChannel, ConnectConfig } from 'ssh2';
import { UnreachableError } from '../transport.js';
import { authConfig, expandHome } from './auth.js';
import { preferredHostKeyAlgorithms, readKnownHosts, verifyHostKey, type HostKeyPeer } from './host-key.js';
import { tunnelThrough, type JumpHost } from './jump.js';

export interface ConnectionPeer extends HostKeyPeer {
  target: string;
  passphrase: string | undefined;
  jump: JumpHost | undefined;
}

export interface ConnectionHooks {
  /** Set while the handshake runs: ends it at once (the run is ending). */
  cancellable(cancel: (() => void) | undefined): void;
  /** After `ready`: an error on the connection (it will close). */
  error(err: Error): void;
  /** After `ready`: the connection closed. */
  closed(client: Client): void;
  /** Counts connections (stats). */
  opened(): void;
}

type ClientError = Error & { level?: string; code?: string };

export async function openConnection(peer: ConnectionPeer, hooks: ConnectionHooks): Promise<Client> {
  const s = peer.settings;
  const auth = await authConfig(peer, s, peer.passphrase);
  const kh = await readKnownHosts(peer);
  const connectTimeoutMs = Math.max(1, s.connectTimeoutSec) * 1000;
  let sock: ClientChannel | undefined;
  if (peer.jump) sock = await tunnelThrough(peer.host, peer.jump, peer.address, s.port, connectTimeoutMs);

  const client = new ssh2.Client();
  hooks.opened();
  let hostKeyFailure: UnreachableError | undefined;
  const preferred = preferredHostKeyAlgorithms(kh, peer.address, s.port);
  const config: ConnectConfig = {
    host: peer.address,
    port: s.port,
    username: s.user,
    readyTimeout: connectTimeoutMs,
    keepaliveInterval: Math.max(0, s.keepaliveSec) * 1000,
    keepaliveCountMax: 3,
    ...auth,
    hostVerifier: (key: Buffer, verify: (valid: boolean) => void) => {
      verifyHostKey(peer, kh, key).then(
        () => verify(true),
        (err: unknown) => {
          hostKeyFailure =
            err instanceof UnreachableError ? err : new UnreachableError(peer.host, `${peer.host}: host key verification failed: ${String(err)}`, 'host-key');
          verify(false);
        },
      );
    },
  };
  if (sock) config.sock = sock;
  if (preferred.length > 0) {
    // Offer the known key types first (as OpenSSH does), so a host with several keys presents the known one.
    config.algorithms = { serverHostKey: { remove: preferred, prepend: preferred, append: [] } };
  }
  await handshake(client, config, peer, hooks, {
    failure: (err) => hostKeyFailure ?? classifyConnectError(peer, err, connectTimeoutMs),
    closedEarly: () =>
      hostKeyFailure ?? new UnreachableError(peer.host, `${peer.host}: connection to ${peer.target} closed during the SSH handshake`, 'connect'),
  });
  return client;
}

function handshake(
  client: Client,
  config: ConnectConfig,
  peer: ConnectionPeer,
  hooks: ConnectionHooks,
  why: { failure: (err: ClientError) => UnreachableError; closedEarly: () => UnreachableError },
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let ready = false;
    let settled = false;
    const fail = (err: UnreachableError): void => {
      if (settled) return;
      settled = true;
      hooks.cancellable(undefined);
      reject(err);
      try {
        client.end();
      } catch {
        // ignore
      }
      setTimeout(() => client.destroy(), 200).unref();
    };
    client.on('error', (err: ClientError) => {
      if (!ready) fail(why.failure(err));
      else hooks.error(err);
    });
    client.on('close', () => {
      if (!ready) fail(why.closedEarly());
      else hooks.closed(client);
    });
    hooks.cancellable(() => {
      // destroy() first: after fail()'s end() the socket no longer counts as writable and
      // ssh2's destroy() would leave it (and its handshake timer) alive.
      client.destroy();
      fail(new UnreachableError(peer.host, `${peer.host}: connecting to ${peer.target} was stopped (the run is ending)`, 'connect'));
    });
    client.on('ready', () => {
      ready = true;
      if (settled) return;
      settled = true;
      hooks.cancellable(undefined);
      client.setNoDelay(true);
      resolve();
    });
    try {
      client.connect(config);
      // The socket exists now (net.Socket; a tunnel channel has no Nagle to disable).
      client.setNoDelay(true);
    } catch (err) {
      // ssh2 checks the key material synchronously in connect(); auth.ts parsed it already, so
      // anything thrown here is about the connection settings.
      fail(new UnreachableError(peer.host, `${peer.host}: cannot connect to ${peer.target}: ${(err as Error).message}`, 'connect'));
    }
  });
}

/** An ssh2 client error before `ready`, by its level and code (not its text). */
function classifyConnectError(peer: ConnectionPeer, err: ClientError, timeoutMs: number): UnreachableError {
  const h = peer.host;
  const level = err.level ?? '';
  if (level === 'client-authentication') {
    const s = peer.settings;
    const how = s.identityFile
      ? `identity file ${expandHome(s.identityFile)}`
      : process.env.SSH_AUTH_SOCK
        ? `keys from ssh-agent (${process.env.SSH_AUTH_SOCK})`
        : 'the default key in ~/.ssh';
    return new UnreachableError(
      h,
      `${h}: authentication failed for ${peer.target} (publickey with ${how}); ` +
        `check that the key is in ${s.user}'s authorized_keys on the host. Not retrying.`,
      'auth',
    );
  }
  if (level === 'agent') {
    return new UnreachableError(h, `${h}: ssh-agent error while authenticating to ${peer.target}: ${err.message}`, 'auth');
  }
  if (level === 'client-timeout' || err.code === 'ETIMEDOUT') {
    return new UnreachableError(h, `${h}: no SSH handshake with ${peer.target} within ${timeoutMs / 1000} s (${err.message})`, 'timeout');
  }
  const code = err.code && !err.message.includes(err.code) ? `${err.code}: ` : '';
  return new UnreachableError(h, `${h}: cannot connect to ${peer.target}: ${code}${err.message}`, 'connect');
}
