// OpenSSH known_hosts: parsing, host-key verification and appending (for accept-new).
//
// Supported, as sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT" describes it:
//   - plain host names/addresses and comma-separated lists: `host1,10.0.0.1 ssh-ed25519 AAAA...`
//   - non-default ports as `[host]:port` (port 22 is written bare; `[host]:22` is accepted too)
//   - hashed entries `|1|base64(salt)|base64(HMAC-SHA1(salt, name))` (HashKnownHosts yes)
//   - patterns with `*` and `?` wildcards and negation `!pattern` (a matching negation excludes)
//   - `@revoked` lines: a matching revoked key is refused whatever the checking mode
//   - comments (`#`) and blank lines
// Not supported: host certificates. `@cert-authority` lines are parsed but never match a key
// (ssh2 cannot negotiate certificate host keys): a host known only through a CA is `unknown`, and
// transports/ssh/host-key.ts refuses it naming the @cert-authority line and the reason. Legacy SSH-1 RSA lines
// (`host bits exponent modulus`) and malformed lines are skipped and listed in `problems`.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, open, readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

export type HostKeyStatus = 'match' | 'mismatch' | 'unknown' | 'revoked';

export interface KnownHostEntry {
  /** 1-based line number in the file. */
  line: number;
  /** The file it came from, when not the primary known_hosts file (/etc/ssh/ssh_known_hosts, …). */
  file?: string;
  marker?: 'revoked' | 'cert-authority';
  /** The host field as written (a pattern list, or a `|1|salt|hash` hashed name). */
  hosts: string;
  hashed: boolean;
  keyType: string;
  /** The raw public key blob (what ssh2 hands to `hostVerifier`). */
  key: Buffer;
  comment?: string;
}

export interface KnownHosts {
  path?: string;
  entries: KnownHostEntry[];
  /** True when at least one entry uses a hashed host name (new entries are then hashed too). */
  hashed: boolean;
  /** Lines that were skipped, with why. */
  problems: { line: number; message: string }[];
}

export interface HostKeyCheck {
  status: HostKeyStatus;
  /** Type of the presented key, e.g. `ssh-ed25519`. */
  keyType: string;
  /** OpenSSH-style fingerprint of the presented key: `SHA256:<base64 without padding>`. */
  fingerprint: string;
  /** The entry that matched (status `match`) or revoked the key (status `revoked`). */
  entry?: KnownHostEntry;
  /** Non-revoked, non-CA entries that apply to this host (the known keys when `mismatch`). */
  known: KnownHostEntry[];
}

const HASH_MAGIC = '|1|';

/** The name OpenSSH stores for host+port: `host` for port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port = 22): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** `SHA256:` + unpadded base64 of the SHA-256 of the key blob, as `ssh-keygen -l` prints it. */
export function fingerprintSha256(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

/** The key type embedded at the start of an SSH public key blob (`string type`), or undefined. */
export function keyTypeOfBlob(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined;
  const len = blob.readUInt32BE(0);
  if (len === 0 || len > 64 || 4 + len > blob.length) return undefined;
  const type = blob.subarray(4, 4 + len).toString('latin1');
  return /^[A-Za-z0-9@._+-]+$/.test(type) ? type : undefined;
}

/** Parse known_hosts text. Never throws: bad lines go to `problems`. */
export function parseKnownHosts(text: string, path?: string): KnownHosts {
  const result: KnownHosts = { entries: [], hashed: false, problems: [] };
  if (path !== undefined) result.path = path;
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const lineNo = i + 1;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const fields = line.split(/[ \t]+/);
    let marker: KnownHostEntry['marker'];
    if (fields[0]?.startsWith('@')) {
      const m = fields.shift();
      if (m === '@revoked') marker = 'revoked';
      else if (m === '@cert-authority') marker = 'cert-authority';
      else {
        result.problems.push({ line: lineNo, message: `unknown marker ${m}` });
        return;
      }
    }
    const [hosts, keyType, keyB64, ...rest] = fields;
    if (hosts === undefined || keyType === undefined || keyB64 === undefined) {
      result.problems.push({ line: lineNo, message: 'expected "hosts keytype key"' });
      return;
    }
    if (/^\d+$/.test(keyType)) {
      result.problems.push({ line: lineNo, message: 'SSH-1 RSA key (not supported)' });
      return;
    }
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(keyB64)) {
      result.problems.push({ line: lineNo, message: 'key is not base64' });
      return;
    }
    const key = Buffer.from(keyB64, 'base64');
    const embedded = keyTypeOfBlob(key);
    if (embedded === undefined || embedded !== keyType) {
      result.problems.push({
        line: lineNo,
        message: `key blob type ${embedded ?? '(unreadable)'} does not match ${keyType}`,
      });
      return;
    }
    const hashed = hosts.startsWith(HASH_MAGIC);
    if (hashed && parseHashed(hosts) === undefined) {
      result.problems.push({ line: lineNo, message: 'malformed hashed host name' });
      return;
    }
    const entry: KnownHostEntry = { line: lineNo, hosts, hashed, keyType, key };
    if (marker !== undefined) entry.marker = marker;
    if (rest.length > 0) entry.comment = rest.join(' ');
    if (hashed) result.hashed = true;
    result.entries.push(entry);
  });
  return result;
}

/** Read and parse a known_hosts file; a missing file is an empty one. */
const parsedFiles = new Map<string, { version: string; kh: KnownHosts }>();

/**
 * Read and parse a known_hosts file, once per version of the file (mtime and size): every host of a
 * run shares it, and an accept-new append makes the next reader see the new entry.
 */
export async function loadKnownHosts(path: string): Promise<KnownHosts> {
  let version = 'missing';
  try {
    const st = await stat(path);
    version = `${st.mtimeMs}:${st.size}`;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const hit = parsedFiles.get(path);
  if (hit && hit.version === version) return hit.kh;
  let text = '';
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const kh = parseKnownHosts(text, path);
  parsedFiles.set(path, { version, kh });
  return kh;
}

function parseHashed(field: string): { salt: Buffer; hash: Buffer } | undefined {
  const parts = field.slice(HASH_MAGIC.length).split('|');
  if (parts.length !== 2) return undefined;
  const salt = Buffer.from(parts[0] ?? '', 'base64');
  const hash = Buffer.from(parts[1] ?? '', 'base64');
  if (salt.length === 0 || hash.length !== 20) return undefined;
  return { salt, hash };
}

/** OpenSSH `match_pattern`: `*` any run of characters, `?` exactly one; case-insensitive. */
export function matchPattern(name: string, pattern: string): boolean {
  const n = name.toLowerCase();
  const p = pattern.toLowerCase();
  // Iterative glob matching with backtracking to the last `*`.
  let ni = 0;
  let pi = 0;
  let star = -1;
  let mark = 0;
  while (ni < n.length) {
    const pc = p[pi];
    if (pc === '?' || (pc !== undefined && pc !== '*' && pc === n[ni])) {
      ni++;
      pi++;
    } else if (pc === '*') {
      star = pi++;
      mark = ni;
    } else if (star !== -1) {
      pi = star + 1;
      ni = ++mark;
    } else {
      return false;
    }
  }
  while (p[pi] === '*') pi++;
  return pi === p.length;
}

/**
 * OpenSSH `match_hostname` over a comma-separated pattern list: true when a positive pattern
 * matches and no negated (`!`) pattern does.
 */
export function matchPatternList(name: string, list: string): boolean {
  let positive = false;
  for (const raw of list.split(',')) {
    if (raw === '') continue;
    const negated = raw.startsWith('!');
    const pattern = negated ? raw.slice(1) : raw;
    if (matchPattern(name, pattern)) {
      if (negated) return false;
      positive = true;
    }
  }
  return positive;
}

/** The names an entry may be stored under for host+port (`[host]:22` is accepted for port 22). */
function lookupNames(host: string, port: number): string[] {
  return port === 22 ? [host, `[${host}]:22`] : [`[${host}]:${port}`];
}

/** Whether a known_hosts entry applies to host+port. */
export function entryMatches(entry: KnownHostEntry, host: string, port = 22): boolean {
  const names = lookupNames(host, port);
  if (entry.hashed) {
    const h = parseHashed(entry.hosts);
    if (h === undefined) return false;
    return names.some((name) => {
      const mac = createHmac('sha1', h.salt).update(name).digest();
      return timingSafeEqual(mac, h.hash);
    });
  }
  return names.some((name) => matchPatternList(name, entry.hosts));
}

/** Key types known for host+port (non-revoked, non-CA), in file order without duplicates. */
export function knownKeyTypes(kh: KnownHosts, host: string, port = 22): string[] {
  const types: string[] = [];
  for (const e of kh.entries) {
    if (e.marker === undefined && !types.includes(e.keyType) && entryMatches(e, host, port)) types.push(e.keyType);
  }
  return types;
}

/**
 * Verify the key a server presented for host+port:
 *  - `revoked`: a matching `@revoked` line lists this key;
 *  - `match`: an entry for the host has exactly this key;
 *  - `mismatch`: the host is known, but only with other keys (of any type) — a changed key;
 *  - `unknown`: no entry applies to the host.
 */
export function checkHostKey(kh: KnownHosts, host: string, port: number, key: Buffer): HostKeyCheck {
  const keyType = keyTypeOfBlob(key) ?? 'unknown-key-type';
  const fingerprint = fingerprintSha256(key);
  const known: KnownHostEntry[] = [];
  let matched: KnownHostEntry | undefined;
  let revoked: KnownHostEntry | undefined;
  for (const e of kh.entries) {
    if (e.marker === 'cert-authority') continue;
    // Cheap key comparison first: the HMAC/pattern work only for entries that could matter.
    if (e.marker === 'revoked') {
      if (revoked === undefined && e.key.equals(key) && entryMatches(e, host, port)) revoked = e;
      continue;
    }
    if (!entryMatches(e, host, port)) continue;
    known.push(e);
    if (matched === undefined && e.key.equals(key)) matched = e;
  }
  // A revocation anywhere in the file wins over a match.
  if (revoked !== undefined) return { status: 'revoked', keyType, fingerprint, entry: revoked, known };
  if (matched !== undefined) return { status: 'match', keyType, fingerprint, entry: matched, known };
  return { status: known.length > 0 ? 'mismatch' : 'unknown', keyType, fingerprint, known };
}

/** One known_hosts line (with trailing newline) for host+port, hashed when asked. */
export function formatKnownHostsLine(host: string, port: number, key: Buffer, opts: { hashed?: boolean } = {}): string {
  const keyType = keyTypeOfBlob(key);
  if (keyType === undefined) throw new Error('cannot write a known_hosts entry: unreadable key blob');
  const name = knownHostsName(host, port);
  let field = name;
  if (opts.hashed) {
    const salt = randomBytes(20);
    const mac = createHmac('sha1', salt).update(name).digest();
    field = `${HASH_MAGIC}${salt.toString('base64')}|${mac.toString('base64')}`;
  }
  return `${field} ${keyType} ${key.toString('base64')}\n`;
}

/**
 * Append an entry for host+port to `path` (accept-new). The entry is hashed when the file already
 * holds hashed entries (or when `opts.hashed` forces it). The line is written with one O_APPEND
 * write, so concurrent appends from several connections do not interleave; a new file (and its
 * directory) is created with mode 0600 (0700). Returns the line written.
 */
export async function appendKnownHost(path: string, host: string, port: number, key: Buffer, opts: { hashed?: boolean } = {}): Promise<string> {
  let existing = '';
  try {
    existing = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  }
  const hashed = opts.hashed ?? parseKnownHosts(existing).hashed;
  let text = formatKnownHostsLine(host, port, key, { hashed });
  if (existing.length > 0 && !existing.endsWith('\n')) text = `\n${text}`;
  const fh = await open(path, 'a', 0o600);
  try {
    await fh.write(text);
  } finally {
    await fh.close();
  }
  return text.trimStart();
}
