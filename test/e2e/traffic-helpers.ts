// What a playbook run under live client traffic must show afterwards (test/lab/traffic.ts): every
// acknowledged write on every member with its value, no read that returned another value, the watch
// keeping up. The same checks test/e2e/traffic-maintenance.test.ts makes (it keeps its own copy for
// now; it can import these).
import assert from 'node:assert/strict';
import type { Lab } from '../lab/lab.js';
import { missingOn, type TrafficReport, type TrafficTls } from '../lab/traffic.js';
import { clientUrl } from './playbook-helpers.js';

/** The lab's client certificate, when it serves TLS. */
export const trafficTls = (lab: Lab): TrafficTls | undefined => (lab.tls ? { ca: lab.tls.ca, cert: lab.tls.cert, key: lab.tls.key } : undefined);

/** One line per run: measured, never asserted (speed belongs in the bench). */
export function trafficSummary(what: string, r: TrafficReport): void {
  console.log(
    `      [traffic] ${what}: ${r.acked.length} acknowledged of ${r.attempts} writes (${r.unacked} unacknowledged), ${r.reads} reads, ` +
      `watch ${r.watch.events} events (${r.watch.restarts} restarts); longest write stall ${r.longestStallMs} ms, ${r.unavailableMs} ms without writes`,
  );
}

export async function assertNoLoss(lab: Lab, hosts: string[], r: TrafficReport, prefix: string): Promise<void> {
  assert.ok(r.acked.length >= 20, `too little traffic to prove anything: ${r.acked.length} acknowledged writes`);
  assert.deepEqual(r.staleReads, [], 'a read returned a value other than the acknowledged one');
  for (const h of hosts) {
    // A follower applies the last entries a moment after the leader acknowledged them.
    let missing = await missingOn(clientUrl(lab, h), r, prefix, trafficTls(lab));
    for (let i = 0; i < 30 && missing.length > 0; i++) {
      await new Promise((res) => setTimeout(res, 100));
      missing = await missingOn(clientUrl(lab, h), r, prefix, trafficTls(lab));
    }
    assert.deepEqual(missing.slice(0, 5), [], `${h} lost ${missing.length} acknowledged write(s)`);
  }
  assert.ok(r.watch.events >= r.acked.length, `the watch saw ${r.watch.events} events for ${r.acked.length} acknowledged writes`);
}
