// Backups off the host, the parts that need no server: the `always` play (the metrics writer runs
// after a failure, a stop and a failed earlier play; the run still fails), the metrics file
// (contract names of monitoring/README.md, atomic rename, a failed run keeps the last success), the
// inventory's backup_remote (credentials only as secrets, refused with a position), the catalog.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { executePlan } from '../../engine/execute/execute.js';
import { loadInventory } from '../../engine/inventory/load.js';
import { newestFirst, parseS3Url, localCatalog } from '../../engine/remote/catalog.js';
import { metricsFile, readMetrics, writeMetrics } from '../../engine/remote/metrics.js';
import { EventLog, exec, FakeTransport, mkPlan, mkPlay } from './executor-fakes.js';

describe('backup records: always plays, metrics file, backup_remote settings, catalog', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'runbook-backup-records-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const run = async (plays: Parameters<typeof mkPlan>[0]) => {
    const log = new EventLog();
    const ts = new Map<string, FakeTransport>();
    const r = await executePlan(mkPlan(plays), {
      runId: '20240101T000000Z-aaaaaa',
      startedAt: new Date('2024-01-01T00:00:00Z'),
      forks: 5,
      check: false,
      transports: (h) => {
        const t = new FakeTransport(h, (cmd) => (cmd === 'fail' ? { code: 1 } : {}));
        ts.set(h, t);
        return t;
      },
      emit: log.emit,
      signal: new AbortController().signal,
      secrets: {},
    });
    const cmds = [...ts.values()].flatMap((t) => t.calls.map((c) => `${c.host}:${c.cmd}`));
    return { r, cmds, log };
  };

  it('an always play runs after every host failed (the run stopped); a plain play after it does not; the exit code stays 1', async () => {
    const { r, cmds } = await run([
      mkPlay(1, ['h1', 'h2'], [{ actions: [exec('fail')] }, { actions: [exec('never')] }]),
      mkPlay(2, ['localhost'], [{ actions: [exec('record')] }], { always: true }),
      mkPlay(3, ['h1'], [{ actions: [exec('not-after-a-stop')] }]),
    ]);
    assert.equal(r.exitCode, 1);
    assert.deepEqual(cmds.filter((c) => !c.endsWith(':fail')).sort(), ['localhost:record']);
  });

  it('an always play also runs after any_errors_fatal stopped the run, and when nothing failed', async () => {
    const stopped = await run([
      mkPlay(1, ['h1', 'h2'], [{ actions: (h) => [exec(h === 'h1' ? 'fail' : 'ok')] }], { anyErrorsFatal: true }),
      mkPlay(2, ['localhost'], [{ actions: [exec('record')] }], { always: true }),
    ]);
    assert.equal(stopped.r.exitCode, 1);
    assert.ok(stopped.cmds.includes('localhost:record'));
    const fine = await run([mkPlay(1, ['h1'], [{ actions: [exec('ok')] }]), mkPlay(2, ['localhost'], [{ actions: [exec('record')] }], { always: true })]);
    assert.equal(fine.r.exitCode, 0);
    assert.ok(fine.cmds.includes('localhost:record'));
  });

  it('the metrics file: contract names, one cluster label, replaced by rename; a failed run keeps the last success', () => {
    writeMetrics(dir, 'prod', { lastRunSuccess: 1, lastSuccessTimestamp: 1700000000, sizeBytes: 4096, revision: 42, lastRunTimestamp: 1700000000 });
    writeMetrics(dir, 'prod', { verifyLastSuccess: 1 });
    writeMetrics(dir, 'prod', { lastRunSuccess: 0, lastRunTimestamp: 1700007200 });
    const text = readFileSync(metricsFile(dir, 'prod'), 'utf8');
    for (const line of [
      'runbook_backup_last_success_timestamp_seconds{cluster="prod"} 1700000000',
      'runbook_backup_last_run_success{cluster="prod"} 0',
      'runbook_backup_size_bytes{cluster="prod"} 4096',
      'runbook_backup_revision{cluster="prod"} 42',
      'runbook_backup_verify_last_success{cluster="prod"} 1',
      'runbook_backup_last_run_timestamp_seconds{cluster="prod"} 1700007200',
      '# TYPE runbook_backup_last_run_success gauge',
    ])
      assert.ok(text.split('\n').includes(line), `${line} in\n${text}`);
    assert.deepEqual(readdirSync(dir), ['runbook_backup.prod.prom'], 'no temp file left');
    // The README's alert rules read these names: every one of them is in the contract table.
    const readme = readFileSync('monitoring/README.md', 'utf8');
    for (const name of text.match(/^runbook_\w+/gm) ?? []) assert.ok(readme.includes(`\`${name}\``), `${name} in monitoring/README.md`);
    assert.deepEqual(readMetrics(join(dir, 'nope.prom'), 'prod'), {});
  });

  it('cluster.backup_remote without its credential secrets is exit-2 input at the setting; credentials are never settings', () => {
    const base = readFileSync('inventories/prod-5.yml', 'utf8');
    const f = join(dir, 'inv.yml');
    writeFileSync(f, base.replace(/\nsecrets:[\s\S]*$/, '\n'));
    const r = loadInventory(f);
    assert.equal(r.inventory, undefined);
    const d = r.diagnostics.find((x) => x.code === 'missing-secret');
    assert.ok(d, JSON.stringify(r.diagnostics));
    assert.match(d.message, /needs the secrets s3_access_key_id and s3_secret_access_key/);
    assert.equal(d.line, base.split('\n').findIndex((l) => l.startsWith('  backup_remote:')) + 1);
    writeFileSync(f, base.replace('region: eu-west-1,', 'region: eu-west-1, secret_access_key: abc,'));
    const leaked = loadInventory(f);
    assert.ok(
      leaked.diagnostics.some((x) => x.code === 'schema-unknown-key' && /secret_access_key/.test(x.message)),
      JSON.stringify(leaked.diagnostics),
    );
    writeFileSync(f, base.replace('bucket: etcd-backups', 'bucket: "Bad;bucket"'));
    assert.ok(loadInventory(f).diagnostics.some((x) => x.code === 'schema-pattern'));
    const ok = loadInventory('inventories/prod-5.yml').inventory;
    assert.deepEqual(ok?.cluster.backupRemote, {
      s3: { endpoint: 'https://s3.example.net', bucket: 'etcd-backups', prefix: 'prod5/', region: 'eu-west-1', pathStyle: true },
      keep: { count: 24, maxAgeSec: 7 * 86400 },
    });
    assert.deepEqual(ok?.cluster.backupKeep, { count: 24, maxAgeSec: 2 * 86400 });
  });

  it('the catalog: names by their stamp, verified = a manifest of the same size, newest first; s3:// URLs', () => {
    const m = (size: number): string => JSON.stringify({ sha256: 'a'.repeat(64), revision: 7, size });
    writeFileSync(join(dir, 'prod-20240101T000000Z.db'), 'x'.repeat(10));
    writeFileSync(join(dir, 'prod-20240101T000000Z.db.manifest.json'), m(10));
    writeFileSync(join(dir, 'prod-20240102T000000Z.db'), 'x'.repeat(10));
    writeFileSync(join(dir, 'prod-20240102T000000Z.db.manifest.json'), m(9)); // a copy cut short
    writeFileSync(join(dir, 'other-20240103T000000Z.db'), 'x');
    const c = newestFirst(localCatalog(dir, 'prod'));
    assert.deepEqual(
      c.map((e) => [e.name, e.verified, e.time]),
      [
        ['prod-20240102T000000Z.db', false, 1704153600],
        ['prod-20240101T000000Z.db', true, 1704067200],
      ],
    );
    assert.deepEqual(parseS3Url('s3://b/etcd/prod/x.db'), { bucket: 'b', key: 'etcd/prod/x.db' });
    assert.equal(parseS3Url('/srv/x.db'), null);
  });
});
