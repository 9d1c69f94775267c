// Pure functions over etcdctl output, fed real `-w json` samples from a throwaway etcd 3.4 cluster
// (test/fixtures/etcd/: members etcd-1 on 127.0.0.77, etcd-11 on .78, etcd-2 on .79, leader etcd-2;
// "-one-down" after stopping etcd-11, "-no-quorum" after also stopping etcd-2, "-all-down" after all).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Json } from '../../engine/model/types.js';
import { DERIVE } from '../../engine/modules/derive-table.js';
import {
  alarms,
  DeriveError,
  defragOrder,
  endpointStatus,
  highestRevision,
  highestRevisionFrom,
  initialClusterAfterAdd,
  memberId,
  memberIdByPeer,
  members,
  memberToReplace,
  parseEtcdJson,
  pickHealthy,
  requireData,
  requireDown,
  requireHealthy,
  requireMembers,
  requireNoQuorum,
  requireOneCluster,
  snapshotManifest,
  statusTable,
  toHexId,
} from '../../engine/modules/derive.js';
import { quorumPreflight, quorumPreflightLive } from '../../engine/modules/derive-membership.js';

const ETCD = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'test', 'fixtures', 'etcd');
const raw = (name: string): string => readFileSync(join(ETCD, name), 'utf8');
const sample = (name: string): Json => parseEtcdJson(raw(name));

const MEMBERS = sample('member-list.json');
const HEALTH = sample('endpoint-health.json');
const HEALTH_ONE_DOWN = sample('endpoint-health-one-down.json');
const HEALTH_NO_QUORUM = sample('endpoint-health-no-quorum.json');
const STATUS = sample('endpoint-status.json');
const STATUS_ONE_DOWN = sample('endpoint-status-one-down.json');
const STATUS_NO_QUORUM = sample('endpoint-status-no-quorum.json');
const STATUS_ALL_DOWN = sample('endpoint-status-all-down.json');
const SNAP_STATUS = sample('snapshot-status.json');
const COUNT = sample('count.json');

const E1 = 'http://127.0.0.77:2379';
const E11 = 'http://127.0.0.78:2379';
const E2 = 'http://127.0.0.79:2379';
// The decimal IDs etcd printed, and their hex form (what etcdctl member remove takes).
const ID = { 'etcd-1': '4443723965730333269', 'etcd-11': '4299463175510662216', 'etcd-2': '809992851554945214' };
const HEX = { 'etcd-1': '3dab4767293f2255', 'etcd-11': '3baac2fa852f9c48', 'etcd-2': 'b3dac34fb89c8be' };

function refused(fn: () => unknown, msg: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DeriveError, String(e));
    assert.match(e.message, msg);
    return true;
  });
}

/** A synthetic `endpoint health` answer for some endpoints. */
const health = (ok: string[], down: string[] = []): Json => [
  ...ok.map((endpoint) => ({ endpoint, health: true, took: '1ms' })),
  ...down.map((endpoint) => ({ endpoint, health: false, took: '5s', error: 'context deadline exceeded' })),
];

/** A synthetic `member list` with n members etcd-1..n on 10.0.0.1..n. */
function memberList(n: number): Json {
  return {
    header: { cluster_id: '11857311091599420523' },
    members: Array.from({ length: n }, (_, i) => ({
      ID: String(10n ** 18n + BigInt(i)),
      name: `etcd-${i + 1}`,
      peerURLs: [`https://10.0.0.${i + 1}:2380`],
      clientURLs: [`https://10.0.0.${i + 1}:2379`],
    })),
  };
}
const url = (i: number): string => `https://10.0.0.${i}:2379`;

describe('derive: parseEtcdJson keeps uint64 IDs exact', () => {
  it('the samples really hold IDs beyond 2^53 (JSON.parse would round them)', () => {
    const naive = JSON.parse(raw('member-list.json')) as { members: { ID: number; name: string }[] };
    const id2 = naive.members.find((m) => m.name === 'etcd-2')?.ID;
    assert.ok(id2 !== undefined && id2 > Number.MAX_SAFE_INTEGER);
    assert.notEqual(BigInt(id2).toString(), ID['etcd-2'], 'JSON.parse loses digits');
  });

  it('member IDs, cluster IDs and leader IDs survive digit for digit', () => {
    const list = MEMBERS as { header: { cluster_id: Json }; members: { ID: Json; name: string }[] };
    assert.equal(list.header.cluster_id, '11857311091599420523');
    for (const m of list.members) assert.equal(m.ID, ID[m.name as keyof typeof ID]);
    const st = STATUS as { Status: { leader: Json; header: { member_id: Json; revision: Json } } }[];
    assert.equal(st[0]?.Status.leader, ID['etcd-2']);
    // Small numbers stay numbers.
    assert.equal(st[0]?.Status.header.revision, 7);
    assert.deepEqual(SNAP_STATUS, { hash: 3686114671, revision: 7, totalKey: 12, totalSize: 24576 });
  });

  it('leaves strings that contain long digit runs alone', () => {
    assert.deepEqual(parseEtcdJson('{"a":"x:12345678901234567890,","b":12345678901234567890}'), { a: 'x:12345678901234567890,', b: '12345678901234567890' });
    assert.deepEqual(parseEtcdJson('[18446744073709551615, 1, -9223372036854775808]'), ['18446744073709551615', 1, '-9223372036854775808']);
    assert.deepEqual(parseEtcdJson('{"e":"he said \\"x\\":12345678901234567890}","f":0.30000000000000004}'), {
      e: 'he said "x":12345678901234567890}',
      f: 0.30000000000000004,
    });
  });

  it('toHexId: decimal strings, small numbers and hex strings', () => {
    for (const [name, dec] of Object.entries(ID)) assert.equal(toHexId(dec), HEX[name as keyof typeof HEX]);
    assert.equal(toHexId(255), 'ff');
    assert.equal(toHexId('ABCDEF'), 'abcdef');
    assert.throws(() => toHexId('not-an-id'), DeriveError);
    assert.throws(() => toHexId(undefined), DeriveError);
  });

  it('members(): hex IDs, names, URLs', () => {
    const ms = members(MEMBERS);
    assert.deepEqual(ms.map((m) => [m.name, m.id, m.clientUrls[0]]).sort(), [
      ['etcd-1', HEX['etcd-1'], E1],
      ['etcd-11', HEX['etcd-11'], E11],
      ['etcd-2', HEX['etcd-2'], E2],
    ]);
  });
});

describe('derive: member lookups by exact name', () => {
  it('memberId finds each member', () => {
    for (const name of ['etcd-1', 'etcd-11', 'etcd-2'] as const) assert.equal(memberId(MEMBERS, name), HEX[name]);
  });

  it('a name that is a prefix of another never matches the other (kubespray grep bug)', () => {
    assert.equal(memberId(MEMBERS, 'etcd-1'), HEX['etcd-1']);
    assert.notEqual(memberId(MEMBERS, 'etcd-1'), HEX['etcd-11']);
    refused(() => memberId(MEMBERS, 'etcd'), /no member named "etcd"/);
    refused(() => memberId(MEMBERS, 'etcd-'), /no member named/);
    refused(() => memberId(MEMBERS, 'tcd-1'), /no member named/);
    refused(() => memberId(MEMBERS, '127.0.0.7'), /no member named/);
  });

  it('two members with one name is refused, not a guess', () => {
    const dup = { members: [...(MEMBERS as { members: Json[] }).members, { ID: '1', name: 'etcd-2', peerURLs: ['http://127.0.0.80:2380'], clientURLs: [] }] };
    refused(() => memberId(dup, 'etcd-2'), /2 members are named "etcd-2"/);
  });

  it('memberIdByPeer matches the whole URL', () => {
    assert.equal(memberIdByPeer(MEMBERS, 'http://127.0.0.78:2380'), HEX['etcd-11']);
    refused(() => memberIdByPeer(MEMBERS, 'http://127.0.0.7:2380'), /found 0/);
  });

  it('initialClusterAfterAdd lists every member plus the new one', () => {
    assert.equal(
      initialClusterAfterAdd(MEMBERS, 'etcd-3', 'http://127.0.0.80:2380').split(',').sort().join(','),
      ['etcd-1=http://127.0.0.77:2380', 'etcd-11=http://127.0.0.78:2380', 'etcd-2=http://127.0.0.79:2380', 'etcd-3=http://127.0.0.80:2380'].sort().join(','),
    );
  });
});

describe('derive: memberToReplace', () => {
  const NEW_PEER = 'http://127.0.0.88:2380';
  const NEW_CLIENT = 'http://127.0.0.88:2379';
  const list = MEMBERS as { members: { ID: Json; name: string; peerURLs: string[]; clientURLs: string[] }[] };
  const others = list.members.filter((m) => m.name !== 'etcd-11');
  const old = list.members.find((m) => m.name === 'etcd-11');

  it('picks the old member when the replacement is not there yet', () => {
    assert.equal(memberToReplace(MEMBERS, HEALTH_ONE_DOWN, 'etcd-11', NEW_PEER), HEX['etcd-11']);
  });

  it('picks the old member while an unstarted new one (no name yet) is listed', () => {
    const added = { members: [...list.members, { ID: '777', name: '', peerURLs: [NEW_PEER], clientURLs: [] }] };
    assert.equal(memberToReplace(added, HEALTH_ONE_DOWN, 'etcd-11', NEW_PEER), HEX['etcd-11']);
  });

  it('never picks the healthy replacement, even when the old one is still listed', () => {
    const both = { members: [...list.members, { ID: '777', name: 'etcd-11', peerURLs: [NEW_PEER], clientURLs: [NEW_CLIENT] }] };
    assert.equal(memberToReplace(both, health([E1, E2, NEW_CLIENT], [E11]), 'etcd-11', NEW_PEER), HEX['etcd-11']);
  });

  it('refuses after a successful swap (a re-run must not remove the new member)', () => {
    const swapped = { members: [...others, { ID: '777', name: 'etcd-11', peerURLs: [NEW_PEER], clientURLs: [NEW_CLIENT] }] };
    refused(() => memberToReplace(swapped, health([E1, E2, NEW_CLIENT]), 'etcd-11', NEW_PEER), /already the healthy replacement/);
  });

  it('refuses when two candidates share the name', () => {
    const both = { members: [...list.members, { ID: '777', name: 'etcd-11', peerURLs: [NEW_PEER], clientURLs: [NEW_CLIENT] }] };
    refused(() => memberToReplace(both, HEALTH_ONE_DOWN, 'etcd-11', NEW_PEER), /2 members are named/);
  });

  it('refuses an unknown name and does not match prefixes', () => {
    refused(() => memberToReplace(MEMBERS, HEALTH, 'etcd-3', NEW_PEER), /no member named "etcd-3"/);
    assert.ok(old);
    assert.equal(memberToReplace(MEMBERS, HEALTH, 'etcd-1', NEW_PEER), HEX['etcd-1']);
  });
});

describe('derive: quorum arithmetic', () => {
  it('3 healthy members: removing one keeps quorum', () => {
    assert.deepEqual(quorumPreflightLive(MEMBERS, HEALTH, 'etcd-11'), {
      members: 3,
      healthy: 3,
      quorum: 2,
      members_after: 2,
      healthy_after: 2,
      quorum_after: 2,
    });
    assert.deepEqual(quorumPreflightLive(MEMBERS, HEALTH, null), { members: 3, healthy: 3, quorum: 2 });
  });

  it('3 members, one down: removing the down one is allowed', () => {
    assert.deepEqual(quorumPreflightLive(MEMBERS, HEALTH_ONE_DOWN, 'etcd-11'), {
      members: 3,
      healthy: 2,
      quorum: 2,
      members_after: 2,
      healthy_after: 2,
      quorum_after: 2,
    });
  });

  it('3 members, one down: removing a healthy one is refused, with the arithmetic', () => {
    refused(() => quorumPreflightLive(MEMBERS, HEALTH_ONE_DOWN, 'etcd-1'), /removing etcd-1 leaves 1 healthy of 2 members, but quorum would be 2/);
    refused(() => quorumPreflightLive(MEMBERS, HEALTH_ONE_DOWN, 'etcd-2'), /leaves 1 healthy of 2/);
  });

  it('3 members, quorum lost: any membership change is refused', () => {
    refused(() => quorumPreflightLive(MEMBERS, HEALTH_NO_QUORUM, 'etcd-11'), /only 0 of 3 members are healthy, quorum is 2/);
    refused(() => quorumPreflightLive(MEMBERS, HEALTH_NO_QUORUM, null), /only 0 of 3/);
  });

  it('an unknown name (or a prefix of a real one) is refused', () => {
    refused(() => quorumPreflightLive(MEMBERS, HEALTH, 'etcd'), /no member named "etcd"/);
  });

  describe('5 members', () => {
    const m5 = memberList(5);
    it('all healthy: removing one leaves 4 of 4 (quorum 3)', () => {
      assert.deepEqual(quorumPreflightLive(m5, health([1, 2, 3, 4, 5].map(url)), 'etcd-5'), {
        members: 5,
        healthy: 5,
        quorum: 3,
        members_after: 4,
        healthy_after: 4,
        quorum_after: 3,
      });
    });
    it('one down: removing a healthy one leaves 3 of 4 (quorum 3): allowed', () => {
      assert.equal(quorumPreflightLive(m5, health([1, 2, 3, 4].map(url), [url(5)]), 'etcd-1').healthy_after, 3);
    });
    it('two down: removing a down one is allowed, a healthy one refused', () => {
      const h = health([1, 2, 3].map(url), [url(4), url(5)]);
      assert.equal(quorumPreflightLive(m5, h, 'etcd-5').healthy_after, 3);
      refused(() => quorumPreflightLive(m5, h, 'etcd-1'), /leaves 2 healthy of 4 members, but quorum would be 3/);
    });
    it('three down: quorum is lost, nothing is allowed', () => {
      refused(() => quorumPreflightLive(m5, health([1, 2].map(url), [3, 4, 5].map(url)), 'etcd-5'), /only 2 of 5 members are healthy, quorum is 3/);
    });
  });

  it('quorumPreflight (inventory form) needs the member to be in the inventory', () => {
    refused(() => quorumPreflight(HEALTH, [E1, E11, E2], 'etcd-9', null), /not a member in the inventory/);
    refused(() => quorumPreflight(health([url(1)]), [url(1)], 'etcd-1', url(1)), /would leave no members/);
  });

  it('requireNoQuorum refuses a restore while a quorum still serves', () => {
    refused(() => requireNoQuorum(HEALTH, 3), /3 of 3 members are healthy \(quorum 2\)/);
    refused(() => requireNoQuorum(HEALTH_ONE_DOWN, 3), /2 of 3 members are healthy \(quorum 2\)/);
    assert.deepEqual(requireNoQuorum(HEALTH_NO_QUORUM, 3), { healthy: 0, quorum: 2 });
    assert.deepEqual(requireNoQuorum(health([1, 2].map(url), [3, 4, 5].map(url)), 5), { healthy: 2, quorum: 3 });
    refused(() => requireNoQuorum(health([1, 2, 3].map(url), [4, 5].map(url)), 5), /3 of 5/);
  });

  it('requireHealthy lists what is unhealthy', () => {
    assert.deepEqual(requireHealthy(HEALTH), { healthy: 3 });
    refused(() => requireHealthy(HEALTH_ONE_DOWN), /unhealthy: http:\/\/127\.0\.0\.78:2379 \(context deadline exceeded\)/);
    refused(() => requireHealthy([]), /no endpoint answered/);
  });

  it("requireHealthy keeps etcd 3.4's meaning on 3.5: a NOSPACE alarm alone is healthy, CORRUPT is not", () => {
    // etcdctl 3.5.30 `endpoint health -w json` on a 3-member TLS lab whose quota was filled (e2e compact-defrag).
    const nospace = sample('endpoint-health-3.5-nospace.json');
    assert.deepEqual(requireHealthy(nospace), { healthy: 3 });
    const corrupt = (nospace as { error: string }[]).map((e, i) => (i === 1 ? { ...e, error: 'Active Alarm(s): NOSPACE CORRUPT ' } : e));
    refused(() => requireHealthy(corrupt), /unhealthy: https:\/\/127\.0\.1\.83:2379 \(Active Alarm\(s\): NOSPACE CORRUPT \)/);
  });
});

describe('derive: endpoint status', () => {
  it('endpointStatus marks exactly the leader', () => {
    const st = endpointStatus(STATUS);
    assert.deepEqual(
      st.map((s) => [s.endpoint, s.id, s.leader, s.revision]),
      [
        [E1, HEX['etcd-1'], false, 7],
        [E11, HEX['etcd-11'], false, 7],
        [E2, HEX['etcd-2'], true, 7],
      ],
    );
    assert.deepEqual(endpointStatus(STATUS_NO_QUORUM)[0]?.errors, ['etcdserver: no leader']);
    assert.equal(endpointStatus(STATUS_NO_QUORUM)[0]?.leader, false);
  });

  it('defragOrder: followers first, the leader last', () => {
    assert.deepEqual(defragOrder(STATUS), [E1, E11, E2]);
    assert.deepEqual(defragOrder(STATUS_ONE_DOWN), [E1, E2]);
    // The leader is last wherever etcdctl lists it.
    const reversed = [...(STATUS as Json[])].reverse();
    assert.deepEqual(defragOrder(reversed), [E1, E11, E2]);
  });

  it('requireOneCluster', () => {
    assert.deepEqual(requireOneCluster(STATUS), { cluster_id: 'a48da19d76152c6b' });
    const mixed = [...(STATUS as Json[]), { Endpoint: 'http://127.0.0.80:2379', Status: { header: { cluster_id: '1', member_id: '2' }, leader: '2' } }];
    refused(() => requireOneCluster(mixed), /disagree on the cluster ID/);
  });

  it('requireDown: any answering member is still running', () => {
    refused(() => requireDown(STATUS_ONE_DOWN), /127\.0\.0\.77:2379, http:\/\/127\.0\.0\.79:2379 still running/);
    // A member without quorum still answers endpoint status: it is alive.
    refused(() => requireDown(STATUS_NO_QUORUM), /127\.0\.0\.77:2379 still running/);
    assert.deepEqual(requireDown(STATUS_ALL_DOWN), { alive: 0 });
  });

  it('endpoints read from etcd output must be client URLs before they reach --endpoints=', () => {
    const hostile = [{ endpoint: '-x; touch /tmp/p', health: true }];
    assert.throws(() => pickHealthy(hostile, 'http://10.0.0.1:2379'), /not a client URL/);
    const status = [{ Endpoint: '--endpoints=evil', Status: { header: { member_id: 1, revision: 1 }, leader: 1 } }];
    assert.throws(() => defragOrder(status), /not a client URL/);
  });

  it('pickHealthy prefers this host, else the first healthy one, never an unhealthy one', () => {
    assert.equal(pickHealthy(HEALTH, E11), E11);
    assert.equal(pickHealthy(HEALTH_ONE_DOWN, E11), E1);
    assert.equal(pickHealthy(HEALTH_ONE_DOWN, E2), E2);
    refused(() => pickHealthy(HEALTH_NO_QUORUM, E1), /no healthy member/);
  });
});

describe('derive: statusTable (runbook status)', () => {
  it('one row per member of the member list, joined with status and health by client URL', () => {
    const rows = statusTable(MEMBERS, STATUS, HEALTH);
    assert.deepEqual(
      rows.map((r) => [r.name, r.id, r.endpoint, r.leader, r.revision, r.health, r.error]),
      [
        ['etcd-1', HEX['etcd-1'], E1, false, 7, 'healthy', ''],
        ['etcd-11', HEX['etcd-11'], E11, false, 7, 'healthy', ''],
        ['etcd-2', HEX['etcd-2'], E2, true, 7, 'healthy', ''],
      ],
    );
    assert.ok(rows.every((r) => r.cluster_id === 'a48da19d76152c6b' && (r.raft_index ?? 0) > 0 && (r.db_size ?? 0) > 0));
  });

  it('a member that does not answer stays a row: no status, unhealthy with the error', () => {
    const rows = statusTable(MEMBERS, STATUS_ONE_DOWN, HEALTH_ONE_DOWN);
    const down = rows.find((r) => r.name === 'etcd-11');
    assert.deepEqual(
      { revision: down?.revision, db_size: down?.db_size, leader: down?.leader, health: down?.health, error: down?.error },
      { revision: null, db_size: null, leader: false, health: 'unhealthy', error: 'context deadline exceeded' },
    );
    assert.equal(rows.filter((r) => r.health === 'healthy').length, 2);
    // Errors etcd reports in status (no leader, alarms) are shown too.
    const noQuorum = statusTable(MEMBERS, STATUS_NO_QUORUM, HEALTH_NO_QUORUM);
    assert.match(noQuorum.find((r) => r.endpoint === E1)?.error ?? '', /etcdserver: no leader/);
    assert.deepEqual(DERIVE.status_table?.(MEMBERS, STATUS, HEALTH), rows.length ? statusTable(MEMBERS, STATUS, HEALTH) : []);
  });
});

describe('derive: snapshots and restored data', () => {
  const file = { sha256: 'a'.repeat(64), size: 24608 };

  it('snapshotManifest from real snapshot status and key count', () => {
    const names = { 'https://10.0.1.11:2379': 'etcd-1', 'https://10.0.1.12:2379': 'etcd-2' };
    assert.deepEqual(snapshotManifest(SNAP_STATUS, file, '/var/backups/etcd/prod-1.db', 'https://10.0.1.12:2379', '3.4.23', COUNT, names), {
      format: 'runbook-snapshot-manifest/1',
      file: 'prod-1.db',
      path: '/var/backups/etcd/prod-1.db',
      sha256: 'a'.repeat(64),
      size: 24608,
      revision: 7,
      total_keys: 12,
      live_keys: 5,
      hash: 3686114671,
      source_member: 'etcd-2',
      source_endpoint: 'https://10.0.1.12:2379',
      etcd_version: '3.4.23',
    });
    // An endpoint the inventory does not know (none given): the URL stands in for the name.
    assert.equal(snapshotManifest(SNAP_STATUS, file, '/x.db', 'http://127.0.0.1:2379', '3.4.23', COUNT).source_member, 'http://127.0.0.1:2379');
    assert.throws(() => snapshotManifest(SNAP_STATUS, { size: 1 }, '/x.db', 'etcd-1', '3.4.23'), DeriveError);
  });

  it('highestRevisionFrom picks the host whose on-disk db is newest', () => {
    const at = (revision: number): Json => ({ ...(SNAP_STATUS as Record<string, Json>), revision });
    assert.deepEqual(highestRevisionFrom({ 'etcd-1': { db: at(7) }, 'etcd-2': { db: at(9) }, 'etcd-3': { db: at(8) } }, 'db'), { host: 'etcd-2', revision: 9 });
    // Ties go to the first host in name order; hosts without the value are skipped.
    assert.deepEqual(highestRevisionFrom({ 'etcd-3': { db: at(9) }, 'etcd-1': { db: at(9) }, 'etcd-2': { other: at(99) } }, 'db'), {
      host: 'etcd-1',
      revision: 9,
    });
    refused(() => highestRevisionFrom({ 'etcd-1': {}, 'etcd-2': { db: null } }, 'db'), /no host has a readable/);
    assert.deepEqual(highestRevision({ a: at(1), b: { revision: 'x' } }), { host: 'a', revision: 1 });
  });

  it('requireData: revision and live keys must match the manifest', () => {
    const manifest = { revision: 7, live_keys: 5 };
    assert.deepEqual(requireData(COUNT, STATUS, manifest, 0), { revision: 7, keys: 5 });
    refused(() => requireData({ count: 4 }, STATUS, manifest, 0), /4 keys, the snapshot had 5/);
    refused(() => requireData(COUNT, STATUS, { revision: 8, live_keys: 5 }, 0), /revision 7 is below the snapshot's 8/);
    // With --bump-revision the restored revision is higher; keys are checked at revision + bump.
    const bumped = [{ Endpoint: E1, Status: { header: { cluster_id: '1', member_id: '2', revision: 1_000_000_007 }, leader: '2' } }];
    assert.deepEqual(requireData(COUNT, bumped, manifest, 1_000_000_000), { revision: 1_000_000_007, keys: 5 });
    refused(() => requireData({ count: 0 }, bumped, manifest, 1_000_000_000), /0 keys, the snapshot had 5/);
    // Without a manifest there is nothing to compare.
    assert.deepEqual(requireData(COUNT, STATUS, null, 0), { revision: 7, keys: 5 });
  });

  it('requireMembers compares names, not IDs', () => {
    assert.deepEqual(requireMembers(MEMBERS, ['etcd-2', 'etcd-1', 'etcd-11']), { members: ['etcd-1', 'etcd-11', 'etcd-2'] });
    assert.deepEqual(requireMembers(MEMBERS, 'etcd-1,etcd-11,etcd-2'), { members: ['etcd-1', 'etcd-11', 'etcd-2'] });
    refused(() => requireMembers(MEMBERS, ['etcd-1', 'etcd-2']), /expected \[etcd-1, etcd-2\]/);
  });

  it('alarms: none in the sample; NOSPACE/CORRUPT by number or name', () => {
    assert.deepEqual(alarms(sample('alarm-list.json')), []);
    assert.deepEqual(alarms(parseEtcdJson(`{"alarms":[{"memberID":${ID['etcd-2']},"alarm":1},{"memberID":${ID['etcd-1']},"alarm":"CORRUPT"}]}`)), [
      { member_id: HEX['etcd-2'], alarm: 'NOSPACE' },
      { member_id: HEX['etcd-1'], alarm: 'CORRUPT' },
    ]);
  });

  it('the DERIVE table names only these functions', () => {
    assert.equal(DERIVE.member_id?.(MEMBERS, 'etcd-11'), HEX['etcd-11']);
    assert.ok(!Object.prototype.hasOwnProperty.call(DERIVE, 'constructor'));
  });
});
