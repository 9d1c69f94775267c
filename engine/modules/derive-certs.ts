// Derive: will etcd accept a member's certificates? (engine/tls/check.ts on PEM read off the host.)
import { X509Certificate, createPublicKey } from 'node:crypto';
import type { Json, JsonObject } from '../model/types.js';
import { checkCertificate, urlHost, type CertRole } from '../tls/check.js';
import { DeriveError } from './derive.js';

/** A run stamp (20261101T020000Z) or an ISO date → a Date. */
function stampDate(stamp: string): Date {
  const m = /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/.exec(stamp);
  const d = m ? new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`) : new Date(stamp);
  if (Number.isNaN(d.getTime())) throw new DeriveError(`not a time: ${JSON.stringify(stamp)}`);
  return d;
}

export interface MemberCerts {
  ca: string;
  server: { file: string; pem: string; publicKey: string };
  peer: { file: string; pem: string; publicKey: string };
  peerUrl: string;
  clientUrl: string;
  /** The run's timestamp: the clock expiry is judged by (keeps the function pure). */
  now: string;
}

/**
 * Will etcd accept this member's server and peer certificates, given as PEM text? tlsCheck on
 * them (the CA and each certificate read fine); returns the hosts judged and the warnings.
 */
export function memberCerts(c: MemberCerts): JsonObject {
  const hosts = [...new Set([urlHost(c.peerUrl), urlHost(c.clientUrl)])];
  const read = (text: string): Read => ({ rc: 0, stdout: text, stderr: '' });
  const cert = (role: CertRole, x: MemberCerts['server']): TlsSpecCert => {
    const { file, pem, publicKey } = x;
    return { roles: [role], file, key: `${file} key`, read: read(pem), pub: read(publicKey), ca: 0, as: '' };
  };
  const r = tlsCheck({ hosts, cas: [{ file: 'the cluster CA', read: read(c.ca), as: '' }], certs: [cert('server', c.server), cert('peer', c.peer)] }, c.now);
  return { hosts, warnings: r.warnings ?? [] };
}

/** What an exec with `bind` stored: {rc, stdout, stderr}. */
interface Read {
  rc?: Json;
  stdout?: Json;
  stderr?: Json;
}

const lastLine = (s: Json | undefined): string =>
  (typeof s === 'string' ? s : '')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .pop() ?? '';

/** The text a read produced, or why it could not be read (naming the file). */
function readText(r: Read | undefined, file: string, as: string): { text: string } | { error: string } {
  if (r && r.rc === 0 && typeof r.stdout === 'string' && r.stdout.trim() !== '') return { text: r.stdout };
  const why = lastLine(r?.stderr) || (r?.rc === 0 ? 'the file is empty' : `exit code ${typeof r?.rc === 'number' ? r.rc : 'none'}`);
  return { error: `${file}: cannot be read${as ? ` by user ${as}` : ''} (${why})` };
}

/** One certificate file of a member and what reading it (and its key's public half) gave. */
export interface TlsSpecCert {
  /** The roles it serves: a file named for both server and peer (kubespray) is checked once, as the stricter. */
  roles: CertRole[];
  file: string;
  key: string;
  read: Read;
  pub: Read;
  /** Index into `cas`. */
  ca: number;
  /** The user etcd reads it as ('' for the operator's own client files, read as root). */
  as: string;
}

export interface TlsSpec {
  /** Hosts the server and peer certificates must name (the host of the member's URLs). */
  hosts: string[];
  cas: { file: string; read: Read; as: string }[];
  certs: TlsSpecCert[];
  /** Certificates signed during this run: valid only from after the run's start, so "not yet valid" is no problem. */
  fresh?: boolean;
}

/**
 * Will etcd (and etcdctl) accept this member's TLS files? Every file must be readable by the user
 * that reads it; each certificate signed by its CA, valid at `now`, belonging to its key, the
 * server and peer ones naming every host of the member's URLs. Any error refuses, each problem
 * named with its file; warnings (expiring within 30 days) are returned with each certificate's
 * serial and expiry.
 */
export function tlsCheck(spec: TlsSpec, nowStamp: string): JsonObject {
  const now = stampDate(nowStamp);
  const errors: string[] = [];
  const warnings: string[] = [];
  const cas = spec.cas.map((c) => {
    const r = readText(c.read, c.file, c.as);
    if ('error' in r) errors.push(r.error);
    return 'text' in r ? r.text : null;
  });
  const certs: JsonObject[] = [];
  for (const c of spec.certs) {
    const pem = readText(c.read, c.file, c.as);
    const pub = readText(c.pub, c.key, c.as);
    if ('error' in pem) errors.push(pem.error);
    if ('error' in pub) errors.push(pub.error);
    const ca = cas[c.ca];
    if (!('text' in pem) || ca === null || ca === undefined) continue;
    const serving = c.roles.includes('server') || c.roles.includes('peer');
    const role: CertRole = c.roles.includes('server') ? 'server' : c.roles.includes('peer') ? 'peer' : 'client';
    const problems = checkCertificate({
      file: c.file,
      role,
      certPem: pem.text,
      caPem: ca,
      hosts: serving ? spec.hosts : [],
      ...('text' in pub ? { publicKeyPem: pub.text } : {}),
      now,
    });
    for (const p of problems.filter((x) => !(spec.fresh && x.code === 'not-yet-valid'))) (p.severity === 'error' ? errors : warnings).push(p.message);
    const info = certInfo(pem.text);
    if (info) certs.push({ file: c.file, roles: c.roles.join(','), ...info });
  }
  if (errors.length) throw new DeriveError(`refused: etcd would reject this member's certificates: ${errors.join('; ')}`);
  return { hosts: spec.hosts, certs, warnings };
}

/** Serial (hex, as openssl prints it) and expiry of a PEM certificate; null when it is not one. */
function certInfo(pem: string): { serial: string; not_after: string; sha256: string } | null {
  try {
    const c = new X509Certificate(pem);
    return { serial: c.serialNumber.toUpperCase(), not_after: new Date(Date.parse(c.validTo)).toISOString(), sha256: c.fingerprint256 };
  } catch {
    return null;
  }
}

export interface ServedSpec {
  checks: { url: string; file: string; served: Read; installed: Read }[];
}

/**
 * Does the member serve the certificate now installed? After a rotation's restart, each of its
 * URLs must present exactly the file's certificate (same SHA-256): a member still serving the
 * old one (not restarted, or pointed at other files) is refused. Returns serial and expiry per URL.
 */
export function servedCerts(spec: ServedSpec): JsonObject {
  const errors: string[] = [];
  const served: JsonObject[] = [];
  for (const c of spec.checks) {
    const file = readText(c.installed, c.file, '');
    const got = readText(c.served, c.url, '');
    if ('error' in file) {
      errors.push(file.error);
      continue;
    }
    const want = certInfo(file.text);
    const have = 'text' in got ? certInfo(got.text) : null;
    if (!want) errors.push(`${c.file}: not a PEM certificate`);
    else if (!have) errors.push(`${c.url}: no certificate received (${'error' in got ? got.error : 'not PEM'})`);
    else if (have.sha256 !== want.sha256)
      errors.push(`${c.url} serves serial ${have.serial} (not after ${have.not_after}), not ${c.file}'s serial ${want.serial}`);
    else served.push({ url: c.url, file: c.file, serial: have.serial, not_after: have.not_after });
  }
  if (errors.length) throw new DeriveError(`refused: the member does not serve its installed certificates: ${errors.join('; ')}`);
  return { served };
}

/**
 * Does the CA key (its public half, printed on the controller from the inventory secret) belong to
 * the cluster CA certificate on the member? Refuses naming the secret and the file before a
 * rotation issues anything: a wrong key would fail at the first signature, or worse, sign with
 * another CA.
 */
export function caKeyMatches(caRead: Read, caFile: string, keyRead: Read, secret: string): JsonObject {
  const ca = readText(caRead, caFile, '');
  if ('error' in ca) throw new DeriveError(`refused: ${ca.error}`);
  const key = readText(keyRead, `the secret ${secret}`, '');
  if ('error' in key) throw new DeriveError(`refused: the secret ${secret} is not a private key openssl can read (${key.error})`);
  let certSpki: string;
  try {
    certSpki = new X509Certificate(ca.text).publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
  } catch (e) {
    throw new DeriveError(`refused: ${caFile}: not a PEM certificate (${e instanceof Error ? e.message : String(e)})`);
  }
  let keySpki: string | null;
  try {
    keySpki = createPublicKey(key.text).export({ type: 'spki', format: 'der' }).toString('base64');
  } catch {
    keySpki = null;
  }
  if (keySpki !== certSpki)
    throw new DeriveError(`refused: the key in secret ${secret} does not belong to the cluster CA ${caFile} (their public keys differ)`);
  return { ca: caFile, subject: new X509Certificate(ca.text).subject.replace(/\n/g, ', ') };
}
