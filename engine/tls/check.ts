// Will etcd accept this member's certificate? Checked on the controller before any membership
// change or restart, from the PEM text read off the host (never the private key: its public half,
// `openssl pkey -pubout`, is compared instead). Since etcd 3.2 a peer certificate whose IP SANs
// lack the connecting address is rejected (kubespray#2156), so a missing SAN is the classic way a
// join breaks; no tool we know checks it before `member add`. Pure: PEM and a clock in, problems out.
import { X509Certificate, createPublicKey } from 'node:crypto';
import { isIP } from 'node:net';

export type CertRole = 'server' | 'peer' | 'client';

export type CertProblemCode =
  'unreadable' | 'not-signed-by-ca' | 'not-yet-valid' | 'expired' | 'expires-soon' | 'missing-san' | 'missing-usage' | 'key-mismatch';

export interface CertProblem {
  code: CertProblemCode;
  severity: 'error' | 'warning';
  message: string;
}

export interface CertCheck {
  /** Where the certificate lives (for messages). */
  file: string;
  role: CertRole;
  certPem: string;
  caPem: string;
  /** Hosts (IP addresses or DNS names) the certificate must name: those of the member's URLs. */
  hosts: readonly string[];
  /** The public key of the private key file, as `openssl pkey -pubout` prints it. */
  publicKeyPem?: string;
  now: Date;
  /** Warn when it expires sooner than this (days). */
  warnDays?: number;
}

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

/**
 * Extended key usages each role needs. A peer certificate serves and dials; a server certificate
 * also dials: etcd's grpc-gateway connects to its own client port with it (LAB-NOTES).
 */
const USAGES: Record<CertRole, { oid: string; name: string }[]> = {
  server: [
    { oid: SERVER_AUTH, name: 'serverAuth' },
    { oid: CLIENT_AUTH, name: 'clientAuth' },
  ],
  peer: [
    { oid: SERVER_AUTH, name: 'serverAuth' },
    { oid: CLIENT_AUTH, name: 'clientAuth' },
  ],
  client: [{ oid: CLIENT_AUTH, name: 'clientAuth' }],
};

/** The host of a URL (`https://[fd00::1]:2380` → `fd00::1`). */
export function urlHost(url: string): string {
  const h = new URL(url).hostname;
  return h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h;
}

function parse(pem: string): X509Certificate | Error {
  try {
    return new X509Certificate(pem);
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  }
}

const DAY_MS = 86_400_000;

export function checkCertificate(c: CertCheck): CertProblem[] {
  const problems: CertProblem[] = [];
  const err = (code: CertProblemCode, message: string): number => problems.push({ code, severity: 'error', message: `${c.file}: ${message}` });
  const cert = parse(c.certPem);
  if (cert instanceof Error) {
    err('unreadable', `not a PEM certificate (${cert.message})`);
    return problems;
  }
  const ca = parse(c.caPem);
  if (ca instanceof Error) {
    err('unreadable', `the cluster CA is not a PEM certificate (${ca.message})`);
    return problems;
  }
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) {
    err('not-signed-by-ca', `issued by "${cert.issuer.replace(/\n/g, ', ')}", not signed by the cluster CA "${ca.subject.replace(/\n/g, ', ')}"`);
  }
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  const now = c.now.getTime();
  if (now < from) err('not-yet-valid', `not valid before ${new Date(from).toISOString()}`);
  if (now > to) err('expired', `expired on ${new Date(to).toISOString()}`);
  else if (to - now < (c.warnDays ?? 30) * DAY_MS) {
    problems.push({
      code: 'expires-soon',
      severity: 'warning',
      message: `${c.file}: expires on ${new Date(to).toISOString()}, in ${Math.floor((to - now) / DAY_MS)} day(s)`,
    });
  }
  const sans = cert.subjectAltName ?? '(none)';
  for (const host of c.hosts) {
    const named = isIP(host) ? cert.checkIP(host) !== undefined : cert.checkHost(host, { subject: 'never' }) !== undefined;
    if (!named) err('missing-san', `has no ${isIP(host) ? 'IP' : 'DNS'} SAN for ${host} (its SANs: ${sans}); etcd rejects it there`);
  }
  const eku = cert.keyUsage; // undefined: no extended key usage extension, any use allowed
  if (eku !== undefined) {
    const missing = USAGES[c.role].filter((u) => !eku.includes(u.oid)).map((u) => u.name);
    if (missing.length) err('missing-usage', `a ${c.role} certificate needs extended key usage ${missing.join(' and ')}`);
  }
  if (c.publicKeyPem !== undefined) {
    const certKey = cert.publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
    if (spkiOf(c.publicKeyPem) !== certKey) err('key-mismatch', 'does not belong to its private key (their public keys differ)');
  }
  return problems;
}

/** The DER SubjectPublicKeyInfo of a PEM public key, base64; null when it is not one. */
function spkiOf(pem: string): string | null {
  try {
    return createPublicKey(pem).export({ type: 'spki', format: 'der' }).toString('base64');
  } catch {
    return null;
  }
}
