// Benchmark section `campaign`: the long randomized fault campaign (test/lab/campaign.ts) on the
// production shape (etcd 3.5 + TLS, systemd; 4 hosts, 3 members and a spare), N runs from one seed
// (RUNBOOK_CAMPAIGN_RUNS, default 60; RUNBOOK_CAMPAIGN_SEED, default the day's date as YYYYMMDD so
// every day tries another sequence). Prints every run, then the counts and, for a failed run, the
// line to keep it as a regression (test/e2e/campaign-seeds.json). Not a timing: the counts are the result.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { labDown, labUp } from '../lab/lab.js';
import { describeSpec } from '../lab/campaign-plan.js';
import { runCampaign, type CampaignReport } from '../lab/campaign.js';
import { shapeLab, SHAPE_A } from '../lab/shapes.js';
import { PACKAGE_ROOT } from '../../engine/package/root.js';
import { fmtMs, table } from './bench-util.js';

const DIR = join(PACKAGE_ROOT, '.runbook/lab-bench-campaign');
/** Its own addresses: the traffic bench uses 101-104, the tests 11-240. */
const FIRST_OCTET = 245;

function envInt(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${v}`);
  return n;
}

export function campaignLines(r: CampaignReport): string[] {
  const c = r.counts;
  const lines = table(
    ['runs', 'completed through the fault', 'recovered by resume', 'recovered by rerun', 'refused with a clear message', 'failed', 'data lost'],
    [[c.runs, c.completed, c.resumed, c.rerun, c.refused, c.failed, c.dataLost].map(String)],
  );
  const byPlaybook = new Map<string, { n: number; stall: number }>();
  for (const run of r.runs) {
    const p = byPlaybook.get(run.spec.playbook) ?? { n: 0, stall: 0 };
    byPlaybook.set(run.spec.playbook, { n: p.n + 1, stall: Math.max(p.stall, run.longestStallMs) });
  }
  lines.push(
    '',
    ...table(
      ['playbook', 'runs', 'longest write stall (with its fault and recovery)'],
      [...byPlaybook].map(([p, v]) => [p, String(v.n), fmtMs(v.stall)]),
    ),
  );
  const failed = r.runs.find((x) => x.outcome === 'failed');
  if (failed) {
    lines.push(
      `  FAILED ${describeSpec(failed.spec, failed.steps)}: ${failed.message.split('\n').slice(0, 8).join('\n    ')}`,
      `  keep it: add {"seed": ${r.seed}, "runs": ${failed.spec.n}, "found": "…"} to test/e2e/campaign-seeds.json`,
    );
  }
  return lines;
}

export async function benchCampaign(): Promise<string[]> {
  const d = new Date();
  const seed = envInt('RUNBOOK_CAMPAIGN_SEED', d.getUTCFullYear() * 10000 + (d.getUTCMonth() + 1) * 100 + d.getUTCDate());
  const runs = envInt('RUNBOOK_CAMPAIGN_RUNS', 60);
  const lines = [`campaign: seed ${seed}, ${runs} runs (RUNBOOK_CAMPAIGN_SEED / RUNBOOK_CAMPAIGN_RUNS), ${SHAPE_A.title}, 4 hosts, 3 members + a spare`];
  const lab = await labUp({ dir: DIR, hosts: 4, members: 3, firstOctet: FIRST_OCTET, ...shapeLab(SHAPE_A) });
  try {
    const file = join(DIR, 'campaign-report.json');
    const done: unknown[] = [];
    // Written after every run, so a campaign cut short still leaves what it did.
    const onRun = (r: unknown): void => void (done.push(r), writeFileSync(file, JSON.stringify({ seed, runs: done }, null, 2)));
    const report = await runCampaign(lab, { seed, runs, log: (l) => process.stdout.write(`${l}\n`), onRun });
    writeFileSync(file, JSON.stringify(report, null, 2));
    lines.push(...campaignLines(report), `  (every run: ${file})`);
    return lines;
  } finally {
    await labDown(DIR);
  }
}
