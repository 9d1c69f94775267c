// Derive: will etcd accept a member's certificates? (engine/tls/check.ts on PEM read off the host.)
import type { JsonObject } from '../model/types.js';
import { checkCertificate, urlHost, type CertProblem } from '../tls/check.js';
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
 * Will etcd accept this member's server and peer certificates? engine/tls/check.ts on the PEM read
 * off the host: each must be signed by the cluster CA, valid now, belong to its key, and name the
 * host of the member's peer and client URLs. Any error refuses (every problem named); warnings
 * (expiring within 30 days) are returned.
 */
export function memberCerts(c: MemberCerts): JsonObject {
  const hosts = [...new Set([urlHost(c.peerUrl), urlHost(c.clientUrl)])];
  const now = stampDate(c.now);
  const problems: CertProblem[] = [
    ...checkCertificate({ file: c.server.file, role: 'server', certPem: c.server.pem, caPem: c.ca, hosts, publicKeyPem: c.server.publicKey, now }),
    ...checkCertificate({ file: c.peer.file, role: 'peer', certPem: c.peer.pem, caPem: c.ca, hosts, publicKeyPem: c.peer.publicKey, now }),
  ];
  const errors = problems.filter((p) => p.severity === 'error').map((p) => p.message);
  if (errors.length) throw new DeriveError(`refused: etcd would reject this member's certificates: ${errors.join('; ')}`);
  return { hosts, warnings: problems.filter((p) => p.severity === 'warning').map((p) => p.message) };
}
