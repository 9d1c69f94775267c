// Host key policy: a key is checked against known_hosts (OpenSSH format). A @revoked key is
// refused whatever the mode; a changed key is refused unless checking is off (then a loud
// warning); an unknown key is refused, recorded (accept-new) or let through with a warning (off).
import type { ServerHostKeyAlgorithm } from 'ssh2';
import type { SshSettings } from '../../model/types.js';
import { shq } from '../../shell/quote.js';
import {
  appendKnownHost,
  checkHostKey,
  entryMatches,
  fingerprintSha256,
  knownHostsName,
  knownKeyTypes,
  loadKnownHosts,
  parseKnownHosts,
  type KnownHosts,
} from '../known-hosts.js';
import { UnreachableError } from '../transport.js';
import { expandHome } from './auth.js';

/** Host key algorithms to offer first for each known_hosts key type, so a known key gets picked. */
const HOST_KEY_ALGOS: Record<string, string[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
};

export interface HostKeyPeer {
  host: string;
  address: string;
  settings: SshSettings;
  knownHostsPath: string;
  log: (msg: string) => void;
}

/** The known_hosts file; unreadable is an error unless host key checking is off. */
export async function readKnownHosts(peer: HostKeyPeer): Promise<KnownHosts> {
  const path = peer.knownHostsPath;
  let primary: KnownHosts;
  try {
    primary = await loadKnownHosts(path);
  } catch (err) {
    if (peer.settings.hostKeyChecking !== 'off') {
      throw new UnreachableError(peer.host, `${peer.host}: cannot read known_hosts file ${path}: ${(err as Error).message}`, 'host-key');
    }
    primary = parseKnownHosts('', path);
  }
  // The other files OpenSSH reads (/etc/ssh/ssh_known_hosts, more UserKnownHostsFile entries): read, never written;
  // one that cannot be read is skipped, as ssh skips it.
  const extras: KnownHosts[] = [];
  for (const p of peer.settings.knownHostsExtra ?? []) {
    try {
      extras.push(await loadKnownHosts(expandHome(p)));
    } catch {
      // skipped
    }
  }
  if (extras.length === 0) return primary;
  return { ...primary, entries: [...primary.entries, ...extras.flatMap((k) => k.entries.map((e) => ({ ...e, ...(k.path ? { file: k.path } : {}) })))] };
}

/** The key types known for the host, as algorithms to offer first (as OpenSSH does). */
export function preferredHostKeyAlgorithms(kh: KnownHosts, address: string, port: number): ServerHostKeyAlgorithm[] {
  return knownKeyTypes(kh, address, port).flatMap((t) => HOST_KEY_ALGOS[t] ?? []) as ServerHostKeyAlgorithm[];
}

export async function verifyHostKey(peer: HostKeyPeer, kh: KnownHosts, key: Buffer): Promise<void> {
  const s = peer.settings;
  const path = peer.knownHostsPath;
  const check = checkHostKey(kh, peer.address, s.port, key);
  const name = knownHostsName(peer.address, s.port);
  const presented = `${check.keyType} key ${check.fingerprint}`;
  const h = peer.host;
  switch (check.status) {
    case 'match':
      return;
    case 'revoked':
      throw new UnreachableError(
        h,
        `${h}: the ${presented} presented by ${name} is marked @revoked in ${path} (line ${check.entry?.line ?? '?'}). ` +
          'Refusing to connect whatever the host key checking mode: the host may be compromised or impersonated; ' +
          'investigate before removing the @revoked line.',
        'host-key',
      );
    case 'mismatch': {
      const knownList = check.known.map((e) => `${e.file ? `${e.file} ` : ''}line ${e.line}: ${e.keyType} ${fingerprintSha256(e.key)}`).join('; ');
      if (s.hostKeyChecking === 'off') {
        peer.log(
          `WARNING: ${h}: HOST KEY CHANGED for ${name}: server presented ${presented}, ${path} has ${knownList}. ` +
            'Host key checking is OFF, connecting anyway: this connection could be intercepted (man-in-the-middle).',
        );
        return;
      }
      throw new UnreachableError(
        h,
        `${h}: HOST KEY CHANGED for ${name}: the server presented ${presented}, but ${path} has a different key (${knownList}). ` +
          'Someone could be intercepting the connection (man-in-the-middle), or the host was reinstalled. ' +
          `If the change is expected, verify the new fingerprint out of band, remove the old entry with ` +
          `\`ssh-keygen -R ${shq(name)} -f ${shq(path)}\` and add the new key (or let host key checking accept-new record it).`,
        'host-key',
      );
    }
    case 'unknown': {
      const cas = kh.entries.filter((e) => e.marker === 'cert-authority' && entryMatches(e, peer.address, s.port));
      if (cas.length > 0 && s.hostKeyChecking !== 'off') {
        const where = cas.map((e) => `${e.file ?? path} line ${e.line}`).join(', ');
        throw new UnreachableError(
          h,
          `${h}: ${name} is known only through a @cert-authority line (${where}), and runbook cannot verify SSH host certificates: ` +
            `its SSH library (ssh2) does not negotiate certificate host keys, so the server presented the plain ${presented}. ` +
            `Refusing rather than trusting it unverified: add the host's plain key to known_hosts after checking its fingerprint ` +
            `(\`ssh-keyscan -p ${s.port} ${shq(peer.address)}\`, compared with ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub on the host).`,
          'host-key',
        );
      }
      if (s.hostKeyChecking === 'off') {
        peer.log(
          `WARNING: ${h}: host key checking is OFF: accepting ${presented} from ${name} without verification; ` +
            'anyone who can intercept the connection can impersonate this host.',
        );
        return;
      }
      if (s.hostKeyChecking === 'accept-new') {
        try {
          await appendKnownHost(path, peer.address, s.port, key);
        } catch (err) {
          throw new UnreachableError(
            h,
            `${h}: could not record the new host key ${check.fingerprint} for ${name} in ${path}: ${(err as Error).message}`,
            'host-key',
          );
        }
        peer.log(`${h}: accepted new host key for ${name}: ${presented}, added to ${path}`);
        return;
      }
      throw new UnreachableError(
        h,
        `${h}: unknown host key for ${name}: the server presented ${presented}, which is not in ${path}. ` +
          `Verify the fingerprint out of band (on the host: ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub), then add it, e.g. ` +
          `\`ssh-keyscan -p ${s.port} ${shq(peer.address)} >> ${shq(path)}\`, or set host key checking to accept-new to trust it on first use.`,
        'host-key',
      );
    }
  }
}
