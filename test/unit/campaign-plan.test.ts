// The fault campaign's choices (test/lab/campaign-plan.ts): a seed gives one sequence of runs,
// another seed another; every playbook and fault is reachable; the membership stays within what the
// lab can hold (3 or 4 members of 4 hosts) and each fault's target is a host the run uses.
import assert from 'node:assert/strict';
import { CAMPAIGN_FAULTS, CAMPAIGN_PLAYBOOKS, describeSpec, nextSpec, stepOf, type RunSpec } from '../lab/campaign-plan.js';
import { seededRandom } from '../support/random.js';

const HOSTS = ['etcd-1', 'etcd-2', 'etcd-3', 'etcd-4'];

/** The sequence a seed gives when every run succeeds (each starts from the membership the previous one left). */
function sequence(seed: number, n: number): RunSpec[] {
  const rand = seededRandom(seed);
  let members = ['etcd-1', 'etcd-2', 'etcd-3'];
  const out: RunSpec[] = [];
  for (let i = 1; i <= n; i++) {
    const s = nextSpec(rand, i, members, HOSTS);
    out.push(s);
    members = s.after;
  }
  return out;
}

describe('campaign plan: seeded, repeatable fault campaign choices', () => {
  it('the same seed gives the same runs; another seed other runs', () => {
    assert.deepEqual(sequence(18, 60), sequence(18, 60));
    assert.notDeepEqual(
      sequence(18, 60).map((s) => describeSpec(s)),
      sequence(19, 60).map((s) => describeSpec(s)),
    );
  });

  it('every playbook and every fault is drawn, steps and delays both, over a long campaign', () => {
    const runs = sequence(20261207, 400);
    assert.deepEqual(new Set(runs.map((r) => r.playbook)), new Set(CAMPAIGN_PLAYBOOKS));
    assert.deepEqual(new Set(runs.map((r) => r.fault)), new Set(CAMPAIGN_FAULTS));
    assert.ok(runs.some((r) => 'delayMs' in r.moment) && runs.some((r) => 'stepFraction' in r.moment));
  });

  it('memberships stay 3 or 4 of the lab hosts, and each fault hits a host the run uses', () => {
    for (const r of sequence(7, 400)) {
      for (const m of [r.before, r.after]) {
        assert.ok(m.length === 3 || m.length === 4, describeSpec(r));
        assert.ok(
          m.every((h) => HOSTS.includes(h)),
          describeSpec(r),
        );
      }
      if (r.playbook === 'remove-member') assert.equal(r.before.length, 4, describeSpec(r));
      if (r.playbook === 'add-member' || r.playbook === 'replace-member') assert.equal(r.before.length, 3, describeSpec(r));
      if (!r.playbook.endsWith('-member')) assert.deepEqual(r.after, r.before);
      if (r.fault === 'kill-runbook') assert.equal(r.target, undefined);
      else assert.ok(r.target && [...r.before, ...r.after].includes(r.target), describeSpec(r));
    }
  });

  it('a step moment names a step of the plan, first to last', () => {
    assert.equal(stepOf({ stepFraction: 0 }, 10), 1);
    assert.equal(stepOf({ stepFraction: 0.999 }, 10), 10);
    assert.equal(stepOf({ stepFraction: 0.5 }, 1), 1);
    assert.equal(describeSpec({ ...sequence(1, 1)[0]!, moment: { stepFraction: 0.25 } }, 8).endsWith('at step 3 of 8'), true);
  });
});
