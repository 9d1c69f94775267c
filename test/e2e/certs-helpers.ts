// What the certificate e2e tests read from outside runbook: the certificate a member's TLS port
// presents, with Node's own TLS client and the lab's client certificate (client-cert-auth is on).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as tls from 'node:tls';
import type { Lab } from '../lab/lab.js';

/** The serial (upper-case hex, as openssl prints it) of the certificate host:port presents; the handshake verifies it against the lab CA. */
export function servedSerial(lab: Lab, host: string, port: number): Promise<string> {
  const t = lab.tls;
  assert.ok(t, 'a TLS lab');
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host, port, ca: readFileSync(t.ca), cert: readFileSync(t.cert), key: readFileSync(t.key) }, () => {
      const serial = s.getPeerCertificate().serialNumber.toUpperCase();
      s.end();
      resolve(serial);
    });
    s.setTimeout(5000, () => s.destroy(new Error(`${host}:${port}: TLS handshake timed out`)));
    s.on('error', reject);
  });
}
