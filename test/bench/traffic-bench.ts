// Benchmark: what client traffic feels during maintenance. On a 3-member lab (plus a spare host)
// whose database holds ~120 MiB, two thirds of it deleted (fragmented), client traffic (writes,
// reads, a watch: test/lab/traffic.ts) runs during each operation, which is then checked for lost
// acknowledged writes; reported: the longest write stall and the time without any acknowledged
// write. compact-defrag.yml (followers first, leader last, health between) is compared with what
// `etcdctl defrag --cluster` does (every member at once) in the same run, each on a freshly
// fragmented database; then add-member, remove-member and replace-member on that database. Measured,
// never asserted.
import { readFileSync, writeFileSync } from 'node:fs';
import { hostExec, labDown, labUp, type Lab } from '../lab/lab.js';
import { missingOn, startTraffic, type TrafficReport } from '../lab/traffic.js';
import { BENCH_FIRST_OCTET, BENCH_LAB_DIR, fmtMs, fmtRatio, runbookChild, table } from './bench-util.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

async function post(url: string, api: string, body: object): Promise<void> {
  const r = await fetch(`${url}/v3/${api}`, { method: 'POST', body: JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
  if (!r.ok) throw new Error(`${url} ${api}: HTTP ${r.status}`);
}

/** ~120 MiB of 10 KiB values, then two thirds deleted and the history compacted: a fragmented file. */
async function fragment(lab: Lab, round: number): Promise<void> {
  const url = lab.clientUrls[0] ?? '';
  const value = b64('x'.repeat(10 * 1024));
  const n = 12_000;
  for (let i = 0; i < n; i += 100) {
    await Promise.all(
      Array.from({ length: 100 }, (_, j) => post(url, 'kv/put', { key: b64(`/bench/fill/${round}/${String(i + j).padStart(6, '0')}`), value })),
    );
  }
  for (let i = 0; i < n; i += 3) {
    await Promise.all([1, 2].map((k) => post(url, 'kv/deleterange', { key: b64(`/bench/fill/${round}/${String(i + k).padStart(6, '0')}`) })));
  }
}

interface Row {
  what: string;
  report: TrafficReport;
  lost: number;
  opMs: number;
}

async function underTraffic(lab: Lab, what: string, members: string[], op: () => Promise<unknown>, after = members): Promise<Row> {
  const prefix = `/bench/traffic/${what.replace(/\W+/g, '-')}/`;
  const urls = members.map((m) => `http://${lab.hosts.find((h) => h.name === m)?.address ?? ''}:2379`);
  const traffic = startTraffic({ endpoints: urls, prefix, ratePerSec: 50, maxMs: 600_000 });
  await new Promise((r) => setTimeout(r, 1000));
  const t0 = Date.now();
  await op();
  const opMs = Date.now() - t0;
  await new Promise((r) => setTimeout(r, 1000));
  const report = await traffic.stop();
  let lost = 0;
  const urlOf = (m: string): string => `http://${lab.hosts.find((h) => h.name === m)?.address ?? ''}:2379`;
  for (const m of after) lost = Math.max(lost, (await missingOn(urlOf(m), report, prefix)).length);
  return { what, report, lost, opMs };
}

export async function benchTraffic(): Promise<string[]> {
  const lines = ['traffic: client writes/reads/watch during maintenance on a fragmented ~120 MiB database (3 members)'];
  const lab = await labUp({ dir: BENCH_LAB_DIR, hosts: 4, members: 3, firstOctet: BENCH_FIRST_OCTET, quotaBytes: 1024 * 1024 * 1024 });
  try {
    const members = ['etcd-1', 'etcd-2', 'etcd-3'];
    const rows: Row[] = [];
    await fragment(lab, 1);
    rows.push(
      await underTraffic(lab, 'compact-defrag.yml (leader last)', members, () =>
        runbookChild(['apply', 'compact-defrag.yml', '-i', lab.inventoryPath, '--yes', '--output', 'text'], 600_000),
      ),
    );
    await fragment(lab, 2);
    const all = lab.clientUrls.join(',');
    rows.push(
      await underTraffic(lab, 'etcdctl defrag --cluster (all at once)', members, async () => {
        const rev = await hostExec(lab, 'etcd-1', `etcdctl --endpoints=${all} endpoint status -w json`, { timeoutMs: 60_000 });
        const revision = /"revision":(\d+)/.exec(rev.stdout)?.[1] ?? '0';
        await hostExec(
          lab,
          'etcd-1',
          `etcdctl --endpoints=${all} compact ${revision} >/dev/null 2>&1; etcdctl --endpoints=${all} --command-timeout=120s defrag --cluster`,
          { timeoutMs: 300_000 },
        );
      }),
    );
    // Membership changes: etcd-4 joins (a learner that catches up on the ~120 MiB database, then promoted) and leaves again.
    const grown = lab.inventoryPath.replace(/\.yml$/, '-grown.yml');
    writeFileSync(
      grown,
      readFileSync(lab.inventoryPath, 'utf8')
        .replace('hosts: [etcd-1, etcd-2, etcd-3]', 'hosts: [etcd-1, etcd-2, etcd-3, etcd-4]')
        .replace(/ {2}spare:\n {4}hosts: \[etcd-4\]\n/, ''),
    );
    const four = [...members, 'etcd-4'];
    rows.push(
      await underTraffic(
        lab,
        'add-member.yml',
        members,
        () => runbookChild(['apply', 'add-member.yml', '-i', grown, '--yes', '--output', 'text', '-e', 'new=etcd-4'], 600_000),
        four,
      ),
    );
    rows.push(
      await underTraffic(
        lab,
        'remove-member.yml',
        four,
        () =>
          runbookChild(
            ['apply', 'remove-member.yml', '-i', lab.inventoryPath, '--yes', '--output', 'text', '-e', 'name=etcd-4', '-e', 'old_host=etcd-4'],
            600_000,
          ),
        members,
      ),
    );
    const inv = lab.inventoryPath.replace(/\.yml$/, '-replace.yml');
    writeFileSync(
      inv,
      readFileSync(lab.inventoryPath, 'utf8')
        .replace('hosts: [etcd-1, etcd-2, etcd-3]', 'hosts: [etcd-1, etcd-2, etcd-4]')
        .replace(/ {2}spare:\n {4}hosts: \[etcd-4\]/, '  retired:\n    hosts: [etcd-3]'),
    );
    rows.push(
      await underTraffic(
        lab,
        'replace-member.yml',
        members,
        () =>
          runbookChild(
            ['apply', 'replace-member.yml', '-i', inv, '--yes', '--output', 'text', '-e', 'old=etcd-3', '-e', 'new=etcd-4', '-e', 'old_host=etcd-3'],
            600_000,
          ),
        ['etcd-1', 'etcd-2', 'etcd-4'],
      ),
    );
    lines.push(
      ...table(
        ['operation', 'took', 'acked writes', 'lost', 'longest stall', 'without writes'],
        rows.map((r) => [r.what, fmtMs(r.opMs), String(r.report.acked.length), String(r.lost), fmtMs(r.report.longestStallMs), fmtMs(r.report.unavailableMs)]),
      ),
    );
    const [leaderLast, allAtOnce] = rows;
    if (leaderLast && allAtOnce) {
      lines.push(
        `  defrag order: leader-last's longest stall is ${fmtRatio(leaderLast.report.longestStallMs / Math.max(1, allAtOnce.report.longestStallMs))} the all-at-once one`,
      );
    }
    return lines;
  } finally {
    await labDown(BENCH_LAB_DIR);
  }
}
