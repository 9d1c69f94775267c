// openssl for tests that forge certificates: run it in a directory, a self-signed CA, a leaf
// certificate signed by a CA (the lab's or another), with the extensions the lab issues.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';

/** openssl's arguments for a new unencrypted EC key on P-256 (prime256v1). */
export const NEW_EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** The extensions of a lab server/peer certificate, without its subjectAltName. */
export const LEAF_EXT = ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment', 'extendedKeyUsage=serverAuth,clientAuth'];

export type Openssl = (...args: string[]) => string;

/** Runs openssl in `cwd`; returns its stdout, throws (stderr kept) when it fails. */
export function opensslIn(cwd: string): Openssl {
  return (...args) => execFileSync('openssl', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A self-signed CA `/CN=${cn}` valid `days`: `${base}.key` and `${base}.crt` in the openssl's directory. */
export function selfSignedCa(ssl: Openssl, base: string, cn: string, days = 30): void {
  ssl('req', '-x509', '-new', ...NEW_EC_KEY, '-keyout', `${base}.key`, '-out', `${base}.crt`, '-subj', `/CN=${cn}`, '-days', String(days));
}

/**
 * Signs `csr` with the CA `ca` (certificate and key) for `days` with the extensions in `extfile` into
 * `out` (paths relative to the openssl's directory); a new random serial unless `createSerial`
 * (openssl's serial file beside the CA certificate).
 */
export function signCsr(
  ssl: Openssl,
  csr: string,
  ca: { crt: string; key: string },
  extfile: string,
  out: string,
  opts: { days?: number; createSerial?: boolean } = {},
): void {
  const serial = opts.createSerial ? ['-CAcreateserial'] : [];
  ssl('x509', '-req', '-in', csr, '-CA', ca.crt, '-CAkey', ca.key, ...serial, '-days', String(opts.days ?? 30), '-extfile', extfile, '-out', out);
}

/**
 * A new key and a certificate for `/CN=${cn}` with the lab's extensions and these SANs, signed by
 * the CA in `caDir` (ca.crt, ca.key): `${base}.key` and `${base}.crt` in `dir`.
 */
export function issueLeaf(dir: string, base: string, cn: string, sans: string[], caDir: string): void {
  const ssl = opensslIn(dir);
  ssl('req', '-new', ...NEW_EC_KEY, '-keyout', `${base}.key`, '-subj', `/CN=${cn}`, '-out', `${base}.csr`);
  writeFileSync(path.join(dir, `${base}.ext`), [...LEAF_EXT, `subjectAltName=${sans.join(',')}`].join('\n') + '\n');
  const ca = { crt: path.join(caDir, 'ca.crt'), key: path.join(caDir, 'ca.key') };
  signCsr(ssl, `${base}.csr`, ca, `${base}.ext`, `${base}.crt`, { createSerial: true });
}
