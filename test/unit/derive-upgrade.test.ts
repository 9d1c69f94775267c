// The decisions upgrade.yml makes from live etcd output (engine/modules/derive-upgrade.ts): one minor
// at a time, never down, etcd's documented minimums, whose turn (the leader last), and whether a
// binary rollback is still possible. Inputs are shaped like `endpoint status -w json` and /version.
import assert from 'node:assert/strict';
import type { Json } from '../../engine/model/types.js';
import {
  requireClusterVersion,
  requireInstalledRuns,
  rollbackPlan,
  upgradePreflight,
  upgradeTurn,
  upgradeTurnAny,
  versionFromImage,
  versionFromText,
} from '../../engine/modules/derive-upgrade.js';
import { DERIVE } from '../../engine/modules/derive-table.js';

const C = (n: number): string => `https://10.0.1.1${n}:2379`;
/** `endpoint status -w json` of members 1..n with these versions; member `leader` leads. */
function status(versions: string[], leader = 1): Json {
  return versions.map((v, i) => ({
    Endpoint: C(i + 1),
    Status: { header: { cluster_id: 7, member_id: 100 + i + 1, revision: 5 }, leader: 100 + leader, version: v },
  }));
}
const cluster = (v: string): Json => ({ etcdserver: v, etcdcluster: v.replace(/\.\d+$/, '.0') });

describe('upgrade preflight (derive upgrade_preflight)', () => {
  it('3.4.23 → 3.5.30: a minor upgrade of every member', () => {
    assert.deepEqual(upgradePreflight(status(['3.4.23', '3.4.23', '3.4.23']), cluster('3.4.0'), '3.5.30'), {
      from: '3.4.23',
      to: '3.5.30',
      kind: 'minor',
      cluster_version: '3.4.0',
      pending: [C(1), C(2), C(3)],
    });
  });

  it('a patch upgrade, and an interrupted upgrade continued (one member already at the target)', () => {
    assert.equal(upgradePreflight(status(['3.5.16', '3.5.16', '3.5.16']), cluster('3.5.0'), '3.5.30').kind, 'patch');
    assert.deepEqual(upgradePreflight(status(['3.4.23', '3.5.30', '3.4.23']), cluster('3.4.0'), '3.5.30').pending, [C(1), C(3)]);
  });

  it('refuses a skipped minor (3.4 → 3.6), naming the next minor to go to', () => {
    assert.throws(() => upgradePreflight(status(['3.4.23', '3.4.23', '3.4.23']), cluster('3.4.0'), '3.6.5'), /skips a minor version.*newest 3\.5\.x first/);
  });

  it('refuses a downgrade, also by a patch, and a major other than 3', () => {
    assert.throws(() => upgradePreflight(status(['3.5.30', '3.5.30', '3.5.30']), cluster('3.5.0'), '3.4.23'), /downgrade.*rollback=true/);
    assert.throws(() => upgradePreflight(status(['3.5.30', '3.5.30', '3.5.30']), cluster('3.5.0'), '3.5.29'), /downgrade/);
    assert.throws(() => upgradePreflight(status(['3.5.30', '3.5.30', '3.5.30']), cluster('3.5.0'), '4.0.0'), /3\.x only/);
  });

  it("refuses a target below etcd's production minimum (3.5.6) and 3.6 from below 3.5.26 (the upgrade_3_6 guide)", () => {
    assert.throws(() => upgradePreflight(status(['3.4.23', '3.4.23', '3.4.23']), cluster('3.4.0'), '3.5.2'), /below 3\.5\.6/);
    assert.throws(
      () => upgradePreflight(status(['3.5.26', '3.5.25', '3.5.26']), cluster('3.5.0'), '3.6.5'),
      /every member must run 3\.5\.26 or later.*https:\/\/10\.0\.1\.12:2379 3\.5\.25/,
    );
    assert.equal(upgradePreflight(status(['3.5.26', '3.5.30', '3.5.26']), cluster('3.5.0'), '3.6.5').kind, 'minor');
    // 3.4 → 3.5 from a 3.4 below its production minimum
    assert.throws(() => upgradePreflight(status(['3.4.21', '3.4.23', '3.4.23']), cluster('3.4.0'), '3.5.30'), /3\.4\.22 or later/);
  });

  it('refuses a minor without a known guide, and output that is not a release version', () => {
    assert.throws(() => upgradePreflight(status(['3.6.5', '3.6.5', '3.6.5']), cluster('3.6.0'), '3.7.0'), /no etcd upgrade guide for 3\.6 → 3\.7/);
    assert.throws(() => upgradePreflight(status(['3.4.23', '3.4.23', '3.4.23']), cluster('3.4.0'), '3.5.30-rc.0'), /expected an etcd release version/);
    assert.throws(() => upgradePreflight(status(['3.4.23', 'x', '3.4.23']), cluster('3.4.0'), '3.5.30'), /server version of https:\/\/10\.0\.1\.12:2379/);
  });
});

describe('whose turn (derive upgrade_turn, upgrade_turn_any)', () => {
  const st = status(['3.4.23', '3.4.23', '3.4.23'], 2);
  it('a follower goes; the leader waits while another member still has to go', () => {
    assert.equal(upgradeTurn(st, C(1), '3.5.30').upgrade, true);
    assert.deepEqual(upgradeTurn(st, C(2), '3.5.30'), {
      upgrade: false,
      version: '3.4.23',
      leader: true,
      reason: 'the leader goes last (2 other member(s) first)',
    });
    assert.equal(upgradeTurn(status(['3.5.30', '3.4.23', '3.5.30'], 2), C(2), '3.5.30').upgrade, true, 'the leader once the rest is done');
  });
  it('a member at the target is skipped; the last round takes any member left, leader or not', () => {
    assert.equal(upgradeTurn(status(['3.5.30', '3.4.23', '3.4.23']), C(1), '3.5.30').upgrade, false);
    assert.equal(upgradeTurnAny(st, C(2), '3.5.30').upgrade, true);
    assert.throws(() => upgradeTurn(st, C(4), '3.5.30'), /did not answer/);
  });
});

describe('rollback plan and the end state (derive rollback_plan, require_cluster_version)', () => {
  it('a mixed cluster goes back to its oldest version', () => {
    assert.deepEqual(rollbackPlan(status(['3.4.23', '3.5.30', '3.4.23']), cluster('3.4.0')), { to: '3.4.23', from: '3.5.30', pending: [C(2)] });
  });
  it('refused once every member runs the new version, or the cluster version moved: restore-all instead', () => {
    assert.throws(() => rollbackPlan(status(['3.5.30', '3.5.30', '3.5.30']), cluster('3.5.0')), /every member runs 3\.5\.30.*restore-all\.yml/);
    assert.throws(() => rollbackPlan(status(['3.4.23', '3.5.30', '3.5.30']), cluster('3.5.0')), /cluster version is already 3\.5\.0.*restore-all\.yml/);
  });
  it('the end state: every member at the version and the cluster version at its minor', () => {
    assert.deepEqual(requireClusterVersion(status(['3.5.30', '3.5.30', '3.5.30']), cluster('3.5.0'), '3.5.30'), {
      version: '3.5.30',
      members: 3,
      cluster_version: '3.5.0',
    });
    assert.throws(() => requireClusterVersion(status(['3.5.30', '3.5.30', '3.5.30']), cluster('3.4.0'), '3.5.30'), /cluster version is still 3\.4\.0/);
    assert.throws(() => requireClusterVersion(status(['3.5.30', '3.4.23', '3.5.30']), cluster('3.4.0'), '3.5.30'), /10\.0\.1\.12:2379 3\.4\.23: expected/);
  });
});

describe('the binary to replace is the one that runs (derive require_installed_runs)', () => {
  it('passes when the installed binary is the running version, refuses otherwise naming etcd_bin_dir', () => {
    assert.deepEqual(requireInstalledRuns(status(['3.4.23']), '3.4.23', '/usr/bin/etcd'), { installed: '3.4.23' });
    assert.throws(
      () => requireInstalledRuns(status(['3.4.23']), '3.4.20', '/usr/local/bin/etcd'),
      /refused: \/usr\/local\/bin\/etcd is etcd 3\.4\.20 but https:\/\/10\.0\.1\.11:2379 3\.4\.23 runs: set etcd_bin_dir/,
    );
  });
});

describe('versions read from binaries and images', () => {
  it('`etcd --version` output and kubeadm image tags', () => {
    assert.equal(versionFromText('etcd Version: 3.5.30\nGit SHA: Not provided\nGo Version: go1.24\n'), '3.5.30');
    assert.throws(() => versionFromText('etcd Version: 3.5.30; rm -rf /\n'), /expected an etcd release version/);
    assert.equal(versionFromImage('registry.k8s.io/etcd:3.5.30-0'), '3.5.30');
    assert.equal(versionFromImage('quay.io/coreos/etcd:v3.4.23'), '3.4.23');
    assert.throws(() => versionFromImage('registry.k8s.io/etcd:latest'), /expected …\/etcd:3\.5\.30-0/);
  });
  it('every upgrade derive is in the table a plan may name', () => {
    for (const fn of [
      'version_from_text',
      'version_from_image',
      'upgrade_preflight',
      'upgrade_turn',
      'upgrade_turn_any',
      'require_version',
      'require_cluster_version',
      'rollback_plan',
    ])
      assert.equal(typeof DERIVE[fn], 'function', fn);
  });
});
