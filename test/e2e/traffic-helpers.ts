// Playbooks under live client traffic (issue 18 item 2), shared by test/e2e/traffic-*.test.ts. The
// pattern for a new case (rolling upgrade, certificate rotation, …): a lab of shape A, then
//
//   await playbookUnderTraffic(lab, { what: 'upgrade', playbook: 'upgrade.yml', extra: [...], members: [...] });
//
// which runs client writes, reads and a watch (test/lab/traffic.ts) across the playbook, requires
// exit 0, every acknowledged write on every member afterwards (a read never returning another
// value, the watch seeing every write), and the cluster as the inventory says; the counts go to
// `npm run reliability` (RUNBOOK_TRAFFIC_REPORT) and the longest write stall is printed.
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import type { Lab } from '../lab/lab.js';
import { missingOn, startTraffic, type TrafficReport, type TrafficTls } from '../lab/traffic.js';
import { apply, assertCluster, clientUrl, type CliRun } from './playbook-helpers.js';

/** The lab's client certificate, when it serves TLS. */
export const trafficTls = (lab: Lab): TrafficTls | undefined => (lab.tls ? { ca: lab.tls.ca, cert: lab.tls.cert, key: lab.tls.key } : undefined);

/** One row of the reliability report's "playbooks under traffic" table. */
export interface TrafficRow {
  playbook: string;
  acked: number;
  lost: number;
  unacked: number;
  longestStallMs: number;
  unavailableMs: number;
}

/** Appends the row to the file named by RUNBOOK_TRAFFIC_REPORT (one JSON object a line), if set. */
function record(row: TrafficRow): void {
  const file = process.env.RUNBOOK_TRAFFIC_REPORT;
  if (file) appendFileSync(file, `${JSON.stringify(row)}\n`);
}

export function summary(what: string, r: TrafficReport): void {
  console.log(
    `      [traffic] ${what}: ${r.acked.length} acknowledged of ${r.attempts} writes (${r.unacked} unacknowledged), ${r.reads} reads, ` +
      `watch ${r.watch.events} events (${r.watch.restarts} restarts); longest write stall ${r.longestStallMs} ms, ${r.unavailableMs} ms without writes`,
  );
}

/** Every acknowledged write on each of `hosts` with its value, no read saw another value, the watch saw them all; the counts recorded as `what`. */
export async function assertNoLoss(lab: Lab, hosts: string[], r: TrafficReport, prefix: string, what: string): Promise<void> {
  let lost = 0;
  const problems: string[] = [];
  for (const h of hosts) {
    // A follower applies the last entries a moment after the leader acknowledged them.
    let missing = await missingOn(clientUrl(lab, h), r, prefix, trafficTls(lab));
    for (let i = 0; i < 30 && missing.length > 0; i++) {
      await new Promise((res) => setTimeout(res, 100));
      missing = await missingOn(clientUrl(lab, h), r, prefix, trafficTls(lab));
    }
    lost = Math.max(lost, missing.length);
    if (missing.length) problems.push(`${h} lost ${missing.length} acknowledged write(s): ${missing.slice(0, 5).join(', ')}`);
  }
  record({ playbook: what, acked: r.acked.length, lost, unacked: r.unacked, longestStallMs: r.longestStallMs, unavailableMs: r.unavailableMs });
  assert.ok(r.acked.length >= 20, `too little traffic to prove anything: ${r.acked.length} acknowledged writes`);
  assert.deepEqual(r.staleReads, [], 'a read returned a value other than the acknowledged one');
  assert.deepEqual(problems, []);
  assert.ok(r.watch.events >= r.acked.length, `the watch saw ${r.watch.events} events for ${r.acked.length} acknowledged writes`);
}

export interface UnderTraffic {
  /** The name in reports (the playbook's, or a variant). */
  what: string;
  playbook: string;
  extra?: string[];
  inventory?: string;
  /** Members the clients know when the playbook starts (writes move on from one that fails). */
  members: string[];
  /** Members after it (default: the same); every acknowledged write must be on each. */
  after?: string[];
  /** Key prefix for this case's writes (default /traffic/<what>/). */
  prefix?: string;
  ratePerSec?: number;
  maxMs?: number;
}

/** Runs the playbook under traffic and checks it as described at the top; returns the run and the traffic report. */
export async function playbookUnderTraffic(lab: Lab, o: UnderTraffic): Promise<{ run: CliRun; report: TrafficReport }> {
  const prefix = o.prefix ?? `/traffic/${o.what.replace(/\W+/g, '-')}/`;
  const traffic = startTraffic({
    endpoints: o.members.map((h) => clientUrl(lab, h)),
    tls: trafficTls(lab),
    prefix,
    ratePerSec: o.ratePerSec ?? 40,
    maxMs: o.maxMs ?? 150_000,
  });
  // Traffic before the playbook starts, too: wait for it to flow (observable), not a fixed time.
  for (let i = 0; i < 300 && traffic.acked() < 20; i++) await new Promise((res) => setTimeout(res, 50));
  const run = await apply(lab, o.playbook, o.extra ?? [], o.inventory);
  const report = await traffic.stop();
  summary(o.what, report);
  assert.equal(run.code, 0, run.all);
  const after = o.after ?? o.members;
  await assertNoLoss(lab, after, report, prefix, o.what);
  await assertCluster(lab, after);
  return { run, report };
}
