// How runbook authenticates to a host: the configured identity file, else ssh-agent, else the
// first default key in ~/.ssh. A key is read and checked up front (once per content and
// passphrase), so an encrypted key without a passphrase fails once and clearly.
import { createHash } from 'node:crypto';
import { access, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import type { AgentAuthMethod, ConnectConfig, ParsedKey, PublicKeyAuthMethod } from 'ssh2';
import type { SshSettings } from '../../model/types.js';
import { UnreachableError } from '../transport.js';

/** Identity files (by path, content and passphrase) already parsed and found usable. */
const checkedKeys = new Set<string>();

/** The host a message is about and how it is reached (`user@address:port via jump`). */
export interface Peer {
  host: string;
  target: string;
}

export function expandHome(p: string): string {
  if (p === '~') return homedir();
  if (p.startsWith('~/')) return join(homedir(), p.slice(2));
  return p;
}

/**
 * The identity file (and any more from the ssh config) first, then ssh-agent's keys unless
 * IdentitiesOnly, as OpenSSH tries them; without either, the first default key in ~/.ssh. The
 * inventory's identity file must be usable (a clear error otherwise); more files from the ssh config
 * that are missing are skipped, as ssh skips them.
 */
export async function authConfig(peer: Peer, s: SshSettings, passphrase: string | undefined): Promise<Partial<ConnectConfig>> {
  const withPassphrase = passphrase !== undefined ? { passphrase } : {};
  const agent = s.identitiesOnly ? undefined : process.env.SSH_AUTH_SOCK;
  const keys: Buffer[] = [];
  if (s.identityFile) keys.push(await loadKey(peer, expandHome(s.identityFile), passphrase));
  for (const more of s.identityFiles ?? []) {
    try {
      await access(expandHome(more));
    } catch {
      continue;
    }
    keys.push(await loadKey(peer, expandHome(more), passphrase));
  }
  if (keys.length === 1 && !agent) return { privateKey: keys[0]!, ...withPassphrase };
  if (keys.length > 0 || agent) {
    const methods: (PublicKeyAuthMethod | AgentAuthMethod)[] = keys.map((key) => ({ type: 'publickey', username: s.user, key, ...withPassphrase }));
    if (agent) methods.push({ type: 'agent', username: s.user, agent });
    return { authHandler: methods };
  }
  for (const name of ['id_ed25519', 'id_ecdsa', 'id_rsa']) {
    const path = join(homedir(), '.ssh', name);
    try {
      await access(path);
    } catch {
      continue;
    }
    return { privateKey: await loadKey(peer, path, passphrase), ...withPassphrase };
  }
  throw new UnreachableError(
    peer.host,
    `${peer.host}: no way to authenticate to ${peer.target}: no identity file configured, SSH_AUTH_SOCK is not set ` +
      'and there is no ~/.ssh/id_ed25519, id_ecdsa or id_rsa',
    'auth',
  );
}

/** Read and check a private key up front, so an encrypted key without passphrase fails once and clearly. */
async function loadKey(peer: Peer, path: string, passphrase: string | undefined): Promise<Buffer> {
  const h = peer.host;
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (err) {
    throw new UnreachableError(h, `${h}: cannot read identity file ${path}: ${(err as Error).message}`, 'auth');
  }
  // Every host of a run uses the same key file: check it once per content and passphrase.
  const memo = `${path}\u0000${createHash('sha256')
    .update(data)
    .update(passphrase ?? '\u0000none')
    .digest('hex')}`;
  if (checkedKeys.has(memo)) return data;
  const parsed = ssh2.utils.parseKey(data, passphrase);
  if (parsed instanceof Error) throw new UnreachableError(h, `${h}: ${unusableKey(path, data, parsed, passphrase)}`, 'auth');
  // (parseKey returns an array for a file holding several keys, whatever its type says.)
  const first: ParsedKey | undefined = Array.isArray(parsed) ? (parsed as ParsedKey[])[0] : parsed;
  if (first !== undefined && !first.isPrivateKey()) {
    throw new UnreachableError(h, `${h}: identity file ${path} holds a public key, not a private key`, 'auth');
  }
  checkedKeys.add(memo);
  return data;
}

/** Why a key ssh2 could not parse is unusable: encrypted without (or with the wrong) passphrase, or otherwise. */
function unusableKey(path: string, data: Buffer, err: Error, passphrase: string | undefined): string {
  if (!isEncryptedKey(data)) return `cannot use identity file ${path}: ${err.message}`;
  if (passphrase === undefined) {
    return `identity file ${path} is encrypted and no passphrase was given; provide the key passphrase or load the key into ssh-agent`;
  }
  return `identity file ${path} could not be decrypted with the given passphrase (${err.message})`;
}

/** Whether a private key file is encrypted, read from the file (PEM headers, or the OpenSSH format's cipher name). */
export function isEncryptedKey(data: Buffer): boolean {
  const text = data.toString('latin1');
  if (/^Proc-Type: 4,ENCRYPTED/m.test(text) || text.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----')) return true;
  const body = /-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]*?)-----END OPENSSH PRIVATE KEY-----/.exec(text)?.[1];
  if (body === undefined) return false;
  const raw = Buffer.from(body.replace(/\s+/g, ''), 'base64');
  const magic = Buffer.from('openssh-key-v1\0', 'latin1');
  if (raw.length < magic.length + 4 || !raw.subarray(0, magic.length).equals(magic)) return false;
  const len = raw.readUInt32BE(magic.length);
  return raw.subarray(magic.length + 4, magic.length + 4 + len).toString('latin1') !== 'none';
}
