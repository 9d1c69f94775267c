// e2e: compact-defrag.yml on a real 3-member lab per shape (127.0.0.81-83, 16 MiB backend quota):
// after heavy churn every member's DB shrinks; a NOSPACE alarm raised by filling the quota is
// disarmed and writes work again.
import assert from 'node:assert/strict';
import { type Lab } from '../lab/lab.js';
import { shapesFor } from '../lab/shapes.js';
import {
  alarms,
  apply,
  assertCanaries,
  assertCluster,
  assertOperatorSettings,
  CANARIES,
  churn,
  clientUrl,
  fillUntilNospace,
  journal,
  keyCount,
  type MemberStatus,
  put,
  readPrefix,
  rpc,
  seededLab,
  status,
} from './playbook-helpers.js';

const HOSTS = ['etcd-1', 'etcd-2', 'etcd-3'];
const QUOTA = 16 * 1024 * 1024;

for (const shape of shapesFor('compact-defrag'))
  describe(`${shape.title} playbooks on a real cluster: compact-defrag (127.0.0.81-83)`, function () {
    this.timeout(90_000);
    let lab: Lab;
    let eps: string[];

    seededLab('compact-defrag', { shape, hosts: 3, firstOctet: 81, quotaBytes: QUOTA }, HOSTS, (s) => {
      lab = s.lab;
      eps = HOSTS.map((h) => clientUrl(lab, h));
    });

    it('after heavy churn: compacts once at the current revision, defrags followers then the leader, every DB shrinks', async function () {
      const ep = eps[0] ?? '';
      await churn(ep, 8);
      const before: MemberStatus[] = await Promise.all(eps.map((e) => status(e)));
      for (const s of before) assert.ok(s.dbSize > 5 * 1024 * 1024, `${s.endpoint}: DB only ${s.dbSize} bytes after churn`);
      const keys = await keyCount(ep);
      assert.equal(keys, CANARIES + 20); // the 20 /churn/ keys
      const revision = Math.max(...before.map((s) => s.revision));
      const leader = before.find((s) => s.memberId === s.leader)?.endpoint;

      const r = await apply(lab, 'compact-defrag.yml');
      assert.equal(r.code, 0, r.all);

      const after = await Promise.all(eps.map((e) => status(e)));
      for (const [i, s] of after.entries()) {
        const was = before[i]?.dbSize ?? 0;
        assert.ok(s.dbSize < was / 2, `${s.endpoint}: DB ${was} → ${s.dbSize} bytes`);
      }
      await assertCluster(lab, HOSTS);
      for (const e of eps) {
        await assertCanaries(e);
        assert.equal(await keyCount(e), keys);
        const churned = await readPrefix(e, '/churn/');
        assert.ok(
          [...churned.values()].every((v) => v.startsWith('7:')),
          `${e}: churn keys lost their last value`,
        );
      }
      // Compacted once, at the revision the cluster was at: older revisions are gone.
      const ends = journal(lab, r).filter((e) => e.type === 'step.end');
      const compacted = ends.find((e) => e.stepId?.startsWith('1.2@'))?.result?.value;
      assert.equal(compacted, revision);
      await assert.rejects(rpc(ep, 'kv/range', { key: Buffer.from('/churn/0').toString('base64'), revision: revision - 1 }), /compacted/);
      // Followers first, the leader last.
      const order = (ends.find((e) => e.stepId?.startsWith('1.3@'))?.result?.value as { order?: string[] } | undefined)?.order ?? [];
      assert.equal(order.length, 3);
      assert.equal(order[2], leader, `defrag order ${order.join(', ')}, leader ${leader ?? '?'}`);
      assert.match(r.out, /\(leader\): \d+\.\d MiB → \d+\.\d MiB/);
    });

    it('with a NOSPACE alarm (quota filled): alarm disarmed, a write succeeds afterwards, data intact', async function () {
      const ep = eps[0] ?? '';
      await fillUntilNospace(ep);
      const raised = await alarms(ep);
      assert.ok(raised.length >= 1 && raised.every((a) => a === 'NOSPACE'), raised.join(', '));
      await assert.rejects(put(ep, '/blocked', 'x'), /database space exceeded/);

      const r = await apply(lab, 'compact-defrag.yml');
      assert.equal(r.code, 0, r.all);
      assert.match(r.out, /TASK 1\.5 Disarm the NOSPACE alarm[^\n]*\n {2}changed +etcd-1/);

      assert.deepEqual(await alarms(ep), []);
      for (const e of eps) assert.ok((await status(e)).dbSize < QUOTA / 2);
      await put(ep, '/after-nospace', 'written');
      await assertCluster(lab, HOSTS);
      for (const e of eps) {
        await assertCanaries(e);
        assert.equal((await readPrefix(e, '/after-nospace')).get('/after-nospace'), 'written');
      }
      for (const h of HOSTS) await assertOperatorSettings(lab, h, QUOTA);
    });
  });
