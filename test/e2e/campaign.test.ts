// The short randomized fault campaign in CI (issue 18 item 3): each seed of test/e2e/campaign-seeds.json
// (the CI seed and every seed that once failed, kept as a regression) replayed on a fresh lab of the
// production shape (etcd 3.5 + TLS, systemd; 4 hosts, 3 members and a spare). Each run: a playbook under
// live client traffic, a fault at a step or after a delay, then resume or rerun as the README says;
// every run must end with a healthy cluster holding every acknowledged write, or refused with a message.
// Seeds marked long run with RUNBOOK_CAMPAIGN_LONG=1. The long campaign (N >= 50) is `npm run bench --
// campaign`. With RUNBOOK_CAMPAIGN_REPORT=FILE the reports are written there (npm run reliability prints their counts).
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { labDown } from '../lab/lab.js';
import { describeSpec } from '../lab/campaign-plan.js';
import { runCampaign, type CampaignReport } from '../lab/campaign.js';
import { SHAPE_A } from '../lab/shapes.js';
import { freshLab, labDir, REPO } from './playbook-helpers.js';

interface SeedEntry {
  seed: number;
  runs: number;
  found: string;
  /** Longer than CI affords: replayed with RUNBOOK_CAMPAIGN_LONG=1 only. */
  long?: boolean;
}

const NAME = 'campaign';
const SEEDS = (JSON.parse(readFileSync(path.join(REPO, 'test/e2e/campaign-seeds.json'), 'utf8')) as { seeds: SeedEntry[] }).seeds.filter(
  (s) => !s.long || process.env.RUNBOOK_CAMPAIGN_LONG === '1',
);
const reports: CampaignReport[] = [];

describe(`[campaign] ${SHAPE_A.title} randomized faults under live traffic, resumed or rerun as the README says (lab, 4 hosts)`, function () {
  this.timeout(600_000);

  after(async () => {
    await labDown(labDir(`${NAME}-${SHAPE_A.id}`));
    const out = process.env.RUNBOOK_CAMPAIGN_REPORT;
    if (out) writeFileSync(out, JSON.stringify(reports, null, 2));
  });

  for (const s of SEEDS) {
    it(`[campaign] seed ${s.seed}, ${s.runs} runs (${s.found}): every run recovered or refused clearly, 0 acknowledged writes lost`, async () => {
      const lab = await freshLab(NAME, { hosts: 4, members: 3, firstOctet: 231, shape: SHAPE_A });
      const report = await runCampaign(lab, { seed: s.seed, runs: s.runs, log: (l) => console.log(`    ${l}`) });
      reports.push(report);
      const c = report.counts;
      console.log(
        `      seed ${s.seed}: ${c.runs} runs: ${c.completed} completed through the fault, ${c.resumed} recovered by resume, ${c.rerun} by rerun, ` +
          `${c.refused} refused with a message, ${c.failed} failed; data lost in ${c.dataLost}; ${c.acked} writes acknowledged`,
      );
      const failed = report.runs.find((r) => r.outcome === 'failed');
      assert.equal(failed, undefined, failed ? `${describeSpec(failed.spec, failed.steps)}:\n${failed.message}` : '');
      assert.equal(c.dataLost, 0);
      assert.equal(c.runs, s.runs);
      assert.ok(c.acked > 0, 'no traffic');
    });
  }
});
