// update-member's preflight and the typed reading of etcd's refusals of a membership change
// (engine/modules/derive-members.ts), from live-shaped etcd output.
import assert from 'node:assert/strict';
import { membershipResult, updatePreflight } from '../../engine/modules/derive-members.js';
import type { Json } from '../../engine/model/types.js';

const m = (id: string, name: string, peer: string, client: string, learner = false): Json => ({
  ID: id,
  name,
  peerURLs: [peer],
  clientURLs: [client],
  ...(learner ? { isLearner: true } : {}),
});
const P = (n: number): string => `https://10.0.1.1${n}:2380`;
const C = (n: number): string => `https://10.0.1.1${n}:2379`;
const three = [m('11', 'etcd-1', P(1), C(1)), m('12', 'etcd-2', P(2), C(2)), m('13', 'etcd-3', P(3), C(3))];
const list = (...extra: Json[]): Json => ({ members: [...three, ...extra] });
const health = (...down: number[]): Json =>
  [1, 2, 3].map((n) => ({ endpoint: C(n), health: !down.includes(n), ...(down.includes(n) ? { error: 'context deadline exceeded' } : {}) }));
const NEW = 'https://10.0.2.12:2380';

describe('update-member preflight (derive update_preflight)', () => {
  it('a healthy cluster, a free new peer URL: not moved yet, with the quorum arithmetic', () => {
    assert.deepEqual(updatePreflight(list(), health(), 'etcd-2', NEW), {
      id: 'c',
      moved: false,
      old_peer_urls: [P(2)],
      members: 3,
      healthy_others: 2,
      quorum: 2,
    });
  });

  it('already at the new peer URL (a re-run after the change): moved, not updated again', () => {
    const moved = { members: [three[0], m('12', 'etcd-2', NEW, C(2)), three[2]] } as Json;
    assert.equal(updatePreflight(moved, health(), 'etcd-2', NEW).moved, true);
  });

  it('refuses when the others would lose quorum while it restarts (etcd-3 down: 1 healthy of 3, quorum 2)', () => {
    assert.throws(
      () => updatePreflight(list(), health(3), 'etcd-2', NEW),
      /refused: moving etcd-2 restarts it; the other members are 1 healthy of 3, but quorum is 2/,
    );
  });

  it('the moving member being down itself does not count against the others', () => {
    assert.equal(updatePreflight(list(), health(2), 'etcd-2', NEW).healthy_others, 2);
  });

  it('refuses a peer URL another member uses, naming it', () => {
    assert.throws(
      () => updatePreflight(list(), health(), 'etcd-2', P(3)),
      /refused: peer URL https:\/\/10\.0\.1\.13:2380 is already used by member "etcd-3" \(ID d\)/,
    );
  });

  it('refuses an unknown name, a learner, and two members of one name', () => {
    assert.throws(() => updatePreflight(list(), health(), 'etcd-9', NEW), /refused: no member named "etcd-9"/);
    assert.throws(() => updatePreflight(list(m('14', 'etcd-4', P(4), C(4), true)), health(), 'etcd-4', NEW), /is a learner/);
    assert.throws(() => updatePreflight(list(m('14', 'etcd-2', P(4), C(4))), health(), 'etcd-2', NEW), /2 members are named "etcd-2"/);
  });
});

describe("membership changes: etcd's refusals read by type (derive membership_result)", () => {
  const failed = (stderr: string): Json => ({ rc: 1, stdout: '', stderr });
  const isFinal = (e: unknown): boolean => (e as { final?: boolean }).final === true;

  it('exit 0 is ok', () => {
    assert.deepEqual(membershipResult({ rc: 0, stdout: 'Member 1 removed', stderr: '' }, null), { ok: true });
  });

  it('"not enough started members" (strict reconfiguration check) is final: refused at once, not retried', () => {
    assert.throws(
      () => membershipResult(failed('{"level":"warn"}\nError: etcdserver: re-configuration failed due to not enough started members'), health()),
      (e: Error) => isFinal(e) && /^refused: etcd refused the change \(strict reconfiguration check\): too few members are started/.test(e.message),
    );
  });

  it('"unhealthy cluster" while a member is unhealthy is final, naming the member', () => {
    assert.throws(
      () => membershipResult(failed('Error: etcdserver: unhealthy cluster'), health(3)),
      (e: Error) => isFinal(e) && /unhealthy: https:\/\/10\.0\.1\.13:2379 \(context deadline exceeded\)/.test(e.message),
    );
  });

  it('"unhealthy cluster" while every member is healthy (the ≈ 5 s after a member connects) stays a retryable failure', () => {
    assert.throws(
      () => membershipResult(failed('Error: etcdserver: unhealthy cluster'), health()),
      (e: Error) => !isFinal(e) && /exit code 1: Error: etcdserver: unhealthy cluster/.test(e.message),
    );
  });

  it('another error (a connection problem) is an ordinary failure; text merely containing an error is not a refusal', () => {
    assert.throws(
      () => membershipResult(failed('Error: context deadline exceeded'), health()),
      (e: Error) => !isFinal(e),
    );
    assert.throws(
      () => membershipResult(failed('note: etcdserver: re-configuration failed due to not enough started members, said someone'), health()),
      (e: Error) => !isFinal(e),
    );
  });
});
