// Fault injection on a real etcd 3.4 lab of 4 hosts, 3 members (127.0.0.201-204): a member's
// etcd SIGKILLed in the middle of restore-all (right after the start of the restored members) and
// of replace-member (the new member's etcd right after it starts: the run stops, journalled, and
// `--resume` completes; the leader's etcd while the learner is promoted: the playbook's retries
// wait for it). Nothing is lost.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { hostExec, labDown, type Lab } from '../lab/lab.js';
import {
  apply,
  asideDirs,
  assertCanaries,
  assertCluster,
  type CliRun,
  clientUrl,
  freshLab,
  healthy,
  journal,
  labDir,
  memberList,
  onHost,
  rpc,
  runbook,
  status,
  writeCanaries,
  writeInventory,
} from './playbook-helpers.js';
import { readJournalFile, runIdOf, sleep, stepEnds, waitFor } from './fault-helpers.js';

const NAME = 'fault-membership';
const OLD = ['etcd-1', 'etcd-2', 'etcd-3'];
const NEW = ['etcd-1', 'etcd-2', 'etcd-4'];
const SWAP = ['old=etcd-3', 'new=etcd-4', 'old_host=etcd-3'];

describe('fault injection: etcd killed during membership playbooks (lab, 127.0.0.201-204)', function () {
  this.timeout(60_000);
  let lab: Lab;

  before(async function () {
    lab = await freshLab(NAME, { hosts: 4, members: 3, firstOctet: 201 });
    await writeCanaries(clientUrl(lab, 'etcd-1'));
  });

  after(async function () {
    await labDown(labDir(NAME));
  });

  /**
   * A watcher inside HOST (detached, at most ~30 s): once an `etcd` process appears there (none
   * runs when it starts), SIGKILL it and write its PID to /root/killed.
   */
  async function killEtcdOnStart(host: string): Promise<void> {
    const r = await hostExec(
      lab,
      host,
      'rm -f /root/killed /root/stop-watcher; pgrep -x etcd >/dev/null && exit 3; ( i=0; while [ $i -lt 6000 ] && [ ! -e /root/stop-watcher ]; do ' +
        'p=$(pgrep -x etcd); if [ -n "$p" ]; then kill -KILL $p && echo "$p" > /root/killed; break; fi; ' +
        'sleep 0.005; i=$((i+1)); done ) >/dev/null 2>&1 </dev/null & disown',
      { timeoutMs: 10_000 },
    );
    assert.equal(r.code, 0, `${host}: etcd already runs, or the watcher did not start: ${r.stderr}`);
  }

  async function killedPid(host: string): Promise<string> {
    await hostExec(lab, host, 'touch /root/stop-watcher', { timeoutMs: 10_000 });
    return (await hostExec(lab, host, 'cat /root/killed 2>/dev/null', { timeoutMs: 10_000 })).stdout.trim();
  }

  /** The inventory of the swap etcd-3 → etcd-4 (etcd-3 retired). */
  function swapInventory(): string {
    return writeInventory(lab, 'inventory-replace.yml', (t) => {
      const edited = t
        .replace('hosts: [etcd-1, etcd-2, etcd-3]', 'hosts: [etcd-1, etcd-2, etcd-4]')
        .replace(/ {2}spare:\n {4}hosts: \[etcd-4\]/, '  retired:\n    hosts: [etcd-3]');
      assert.match(edited, /retired:\n {4}hosts: \[etcd-3\]/);
      return edited;
    });
  }

  /** `runbook apply ... --resume ID`, with the same inventory and -e values as the run it resumes. */
  function resume(playbook: string, id: string, extra: string[] = [], inventory = lab.inventoryPath): Promise<CliRun> {
    const e = extra.flatMap((x) => ['-e', x]);
    return runbook(['apply', playbook, '-i', inventory, '--yes', '--output', 'text', '-v', '--journal-dir', path.join(lab.dir, 'runs'), ...e, '--resume', id]);
  }

  it("[fault] a member's etcd SIGKILLed as restore-all starts the restored members: the run stops, journalled; --resume completes, nothing lost", async function () {
    this.timeout(80_000);
    const b = await apply(lab, 'backup.yml');
    assert.equal(b.code, 0, b.all);
    await Promise.all(OLD.map((h) => onHost(lab, h, 'systemctl stop etcd && rm -rf /var/lib/etcd/member && echo wiped > /var/lib/etcd/wiped-by-test')));
    await killEtcdOnStart('etcd-2');

    const r = await apply(lab, 'restore-all.yml');
    const killed = await killedPid('etcd-2');
    assert.match(killed, /^\d+$/, 'the watcher did not see etcd start on etcd-2');
    assert.equal(r.code, 1, r.all);
    const ends = stepEnds(journal(lab, r));
    // Play 3 task 4 ("Start all members together"): fails on etcd-2, whose etcd died before it
    // was ready; everything before it is done on every member; nothing after it ran.
    const start = ends.filter((e) => e.stepId.startsWith('3.4@'));
    assert.equal(start.find((e) => e.host === 'etcd-2')?.status, 'failed', JSON.stringify(ends));
    for (const h of OLD)
      for (const t of ['3.1', '3.2', '3.3']) assert.equal(ends.find((e) => e.stepId === `${t}@${h}`)?.status, 'changed', `${t}@${h}: ${JSON.stringify(ends)}`);
    assert.deepEqual(
      ends
        .filter((e) => /^(3\.[56]|4\.)/.test(e.stepId))
        .map((e) => e.status)
        .filter((s) => s !== 'skipped'),
      [],
      'steps after the failed start ran',
    );
    const id = runIdOf(r);

    // The stand-in restarts the killed etcd after RestartSec=5s, like Restart=on-failure.
    await waitFor('etcd-2 back', () => healthy(clientUrl(lab, 'etcd-2')), 30_000, 200);
    const again = await resume('restore-all.yml', id);
    assert.equal(again.code, 0, again.all);
    const rends = stepEnds(readJournalFile(path.join(lab.dir, 'runs'), runIdOf(again)));
    // The data dirs are not moved aside or restored again.
    for (const h of OLD)
      for (const t of ['3.2', '3.3']) assert.equal(rends.find((e) => e.stepId === `${t}@${h}`)?.status, 'skipped', `${t}@${h}: ${JSON.stringify(rends)}`);

    await assertCluster(lab, OLD);
    for (const h of OLD) {
      await assertCanaries(clientUrl(lab, h));
      const aside = await asideDirs(lab, h);
      assert.equal(aside.length, 1, `${h}: ${aside.join(', ')}`);
      assert.equal((await onHost(lab, h, `cat ${aside[0] ?? ''}/wiped-by-test`)).trim(), 'wiped', `${h}: the old data dir was not kept`);
    }
  });

  it("[fault] the new member's etcd SIGKILLed right after replace-member starts it: the run stops, journalled; --resume completes, nothing lost", async function () {
    this.timeout(80_000);
    const inventory = swapInventory();
    const { clusterId: clusterIdBefore } = await assertCluster(lab, OLD);
    const asideBefore = await asideDirs(lab, 'etcd-3');
    await killEtcdOnStart('etcd-4');

    const r = await apply(lab, 'replace-member.yml', SWAP, inventory);
    const killed = await killedPid('etcd-4');
    assert.match(killed, /^\d+$/, 'the watcher did not see etcd start on etcd-4');
    assert.equal(r.code, 1, r.all);
    const ends = stepEnds(journal(lab, r));
    // Play 1 task 12 ("Start it") fails on etcd-4; the member was removed and the new one added
    // (as a learner) and configured (1.10 sets the membership keys of a config it has, 1.11 writes
    // one it lacks); neither promote nor anything later ran.
    assert.equal(ends.find((e) => e.stepId === '1.12@etcd-4')?.status, 'failed', JSON.stringify(ends));
    for (const t of ['1.4', '1.8']) assert.equal(ends.find((e) => e.stepId === `${t}@etcd-4`)?.status, 'changed', `${t}: ${JSON.stringify(ends)}`);
    const configured = ['1.10', '1.11'].filter((t) => ends.find((e) => e.stepId === `${t}@etcd-4`)?.status === 'changed');
    assert.equal(configured.length, 1, `one config step ran: ${JSON.stringify(ends)}`);
    assert.deepEqual(
      ends
        .filter((e) => /^(1\.1[3-5]|2\.)/.test(e.stepId))
        .map((e) => e.status)
        .filter((s) => s !== 'skipped'),
      [],
      'steps after the failed start ran',
    );
    const list = await memberList(clientUrl(lab, 'etcd-1'));
    assert.deepEqual(
      list.map((m) => `${m.peerURLs.join(',')} learner=${m.isLearner}`).sort(),
      NEW.map((h) => `http://${lab.hosts.find((x) => x.name === h)?.address ?? ''}:2380 learner=${h === 'etcd-4'}`).sort(),
      `membership after the failed run: ${JSON.stringify(list)}`,
    );
    const id = runIdOf(r);

    await waitFor(
      'etcd-4 back (as a learner)',
      async () => (await hostExec(lab, 'etcd-4', 'systemctl is-active --quiet etcd', { timeoutMs: 10_000 })).code === 0,
      30_000,
      200,
    );
    const again = await resume('replace-member.yml', id, SWAP, inventory);
    assert.equal(again.code, 0, again.all);
    const rends = stepEnds(readJournalFile(path.join(lab.dir, 'runs'), runIdOf(again)));
    for (const t of ['1.4', '1.8']) assert.equal(rends.find((e) => e.stepId === `${t}@etcd-4`)?.status, 'skipped', `${t} ran again: ${JSON.stringify(rends)}`);

    const { clusterId } = await assertCluster(lab, NEW);
    assert.equal(clusterId, clusterIdBefore);
    for (const h of NEW) await assertCanaries(clientUrl(lab, h));
    assert.equal((await onHost(lab, 'etcd-3', 'systemctl is-active etcd || true')).trim(), 'inactive');
    const aside = (await asideDirs(lab, 'etcd-3')).filter((d) => !asideBefore.includes(d));
    assert.equal(aside.length, 1, aside.join(', '));
    await onHost(lab, 'etcd-3', `test -f ${aside[0] ?? ''}/member/snap/db && test ! -e /var/lib/etcd`);
  });

  it("[fault] the leader's etcd SIGKILLed while replace-member promotes the new member: the retries wait for it, the run completes, nothing lost", async function () {
    this.timeout(160_000);
    // It starts from the membership the test above ends with (etcd-4 in, etcd-3 out and its data
    // dir moved aside); run alone, it makes that swap first.
    if (!(await memberList(clientUrl(lab, 'etcd-1'))).some((m) => m.name === 'etcd-4')) {
      const swapped = await apply(lab, 'replace-member.yml', SWAP, swapInventory());
      assert.equal(swapped.code, 0, swapped.all);
    }
    // Swap back: etcd-4 out, etcd-3 (its data dir moved aside above) in as a new member.
    const back = ['etcd-1', 'etcd-2', 'etcd-3'];
    const inventory = writeInventory(lab, 'inventory-replace-back.yml', (t) => {
      const edited = t.replace(/ {2}spare:\n {4}hosts: \[etcd-4\]/, '  retired:\n    hosts: [etcd-4]');
      assert.match(edited, /retired:\n {4}hosts: \[etcd-4\]/);
      return edited;
    });
    const eps = NEW.map((h) => clientUrl(lab, h));
    const st = await Promise.all(eps.map((e) => status(e)));
    const leader = st.find((s) => s.memberId === s.leader);
    const one = st[0];
    assert.ok(leader && one);
    if (leader.endpoint !== one.endpoint) {
      await rpc(leader.endpoint, 'maintenance/transfer-leadership', { targetID: one.memberId });
      await waitFor('etcd-1 leads', async () => (await status(eps[0] ?? '')).leader === one.memberId, 10_000);
    }
    const { clusterId: clusterIdBefore } = await assertCluster(lab, NEW);
    const asideBefore = await asideDirs(lab, 'etcd-4');

    // Watch the journal of the run: when promote (1.13) starts on etcd-3, kill etcd-1's etcd.
    // With etcd-4 removed and etcd-3 a learner, that is a lost quorum until the stand-in restarts
    // it (RestartSec=5s); promote retries 20 times, 3 s apart.
    const runs = path.join(lab.dir, 'runs');
    const known = new Set(readdirSync(runs));
    let killedAt = 0;
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const f = readdirSync(runs).find((x) => x.endsWith('.jsonl') && !known.has(x));
        const text = f ? readFileSync(path.join(runs, f), 'utf8') : '';
        if (text.split('\n').some((l) => l.includes('"type":"step.start"') && l.includes('"stepId":"1.13@etcd-3"'))) {
          await onHost(lab, 'etcd-1', 'kill -KILL $(pgrep -x etcd)');
          killedAt = Date.now();
          return;
        }
        await sleep(5);
      }
    })();
    const r = await apply(lab, 'replace-member.yml', ['old=etcd-4', 'new=etcd-3', 'old_host=etcd-4'], inventory);
    watching = false;
    await watcher;
    assert.ok(killedAt > 0, 'promote never started');
    assert.equal(r.code, 0, r.all);
    const ends = journal(lab, r).filter((e) => e.type === 'step.end') as unknown as {
      stepId: string;
      at: string;
      result: { status: string; attempts: number };
    }[];
    const promote = ends.find((e) => e.stepId === '1.13@etcd-3');
    const wait = ends.find((e) => e.stepId === '1.14@etcd-1');
    assert.equal(promote?.result.status, 'changed', JSON.stringify(promote));
    assert.equal(wait?.result.status, 'ok', JSON.stringify(wait));
    // The kill lands inside promote (which then fails with "context deadline exceeded" and is
    // retried) unless promote's first attempt beat it; then the health wait after it rides it out.
    assert.ok(Date.parse(wait.at) > killedAt, 'the kill came after the wait for health ended');
    if (Date.parse(promote.at) > killedAt) assert.ok(promote.result.attempts > 1, `promote did not wait (attempts ${promote.result.attempts})`);
    console.log(`      promote: ${promote.result.attempts} attempt(s), ended ${Date.parse(promote.at) - killedAt} ms after the kill`);

    const { clusterId } = await assertCluster(lab, back);
    assert.equal(clusterId, clusterIdBefore);
    for (const h of back) await assertCanaries(clientUrl(lab, h));
    assert.equal((await onHost(lab, 'etcd-4', 'systemctl is-active etcd || true')).trim(), 'inactive');
    await onHost(lab, 'etcd-4', 'test ! -e /var/lib/etcd');
    assert.equal((await asideDirs(lab, 'etcd-4')).filter((d) => !asideBefore.includes(d)).length, 1, "etcd-4's data dir was not moved aside");
  });
});
