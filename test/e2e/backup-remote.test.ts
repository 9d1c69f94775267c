// e2e [3.5 tls systemd]: backups off the host to a real S3-protocol server (s3rver on 127.0.0.1, a
// child process stopped by PID) driven by the real AWS SDK, on a real 3-member lab (.236-.238):
// three backups in a row upload and are read back; retention by count and by age, local and remote
// each by its own rules, removes exactly what it should, saying why; the metrics file after each
// run; an upload cut by killing the server leaves no object counted as a backup and the metrics say
// the run failed; restore-all from s3:// (members fetch it themselves with a presigned URL) brings
// back every canary key; a remote object with one byte changed is refused on every member before
// any data dir is touched; a member that cannot reach the store gets the controller's copy;
// `runbook backups list` and the drill (`snapshot verify latest --remote -i`).
//
// Object ages: a snapshot's age is the time in its name (`lab-YYYYMMDDTHHMMSSZ.db`, the run that
// took it), which no copy or re-upload changes; the test sets ages by planting objects (a real
// snapshot's bytes and manifest) under names stamped 10 h, 50 h, 60 h and 72 h ago.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { labDown, type Lab } from '../lab/lab.js';
import { SHAPE_A } from '../lab/shapes.js';
import { startS3, type S3Lab } from '../lab/s3-server.js';
import { listObjects, objectMetadata, putText, s3Client, type S3Target } from '../../engine/remote/s3.js';
import {
  apply,
  asideDirs,
  assertCanaries,
  clientUrl,
  freshLab,
  journal,
  labDir,
  onHost,
  put,
  runbook,
  writeCanaries,
  writeInventory,
} from './playbook-helpers.js';
import { waitFor } from '../support/wait.js';

const HOSTS = ['etcd-1', 'etcd-2', 'etcd-3'];
const BUCKET = 'backups';
const PREFIX = 'etcd/lab/';

function stamp(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

/** A snapshot is named by its run's second (<cluster>-YYYYMMDDTHHMMSSZ.db): the next backup must start in a later second. */
async function nextSecond(): Promise<void> {
  const now = stamp(new Date());
  await waitFor('the next second on the clock', () => Promise.resolve(stamp(new Date()) !== now), 5_000);
}

describe(`${SHAPE_A.title} backups off the host: s3rver + AWS SDK, retention, metrics, restore from s3:// (127.0.0.236-238)`, function () {
  this.timeout(600_000);
  const DIR = labDir(`backup-remote-${SHAPE_A.id}`);
  let lab: Lab;
  let s3: S3Lab;
  let client: S3Client;
  let target: S3Target;
  let inv: string;
  let s3Port = 0;
  const uploaded: string[] = [];

  const snapshotKeys = async (): Promise<string[]> =>
    (await listObjects(client, target))
      .map((o) => o.key)
      .filter((k) => k.endsWith('.db'))
      .sort();
  const metrics = (): string => readFileSync(path.join(lab.dir, 'backups', 'runbook_backup.lab.prom'), 'utf8');
  const gauge = (name: string): number => Number(new RegExp(`^${name}\\{cluster="lab"\\} (\\S+)$`, 'm').exec(metrics())?.[1]);
  const localDbs = (): string[] =>
    readdirSync(path.join(lab.dir, 'backups'))
      .filter((f) => /^lab-.*\.db$/.test(f))
      .sort();

  before(async function () {
    lab = await freshLab('backup-remote', { shape: SHAPE_A, hosts: 3, firstOctet: 236 });
    rmSync(path.join(lab.dir, 's3'), { recursive: true, force: true });
    s3 = await startS3(path.join(lab.dir, 's3'), BUCKET);
    s3Port = s3.port;
    target = { endpoint: s3.endpoint, bucket: BUCKET, prefix: PREFIX, region: 'us-east-1', pathStyle: true };
    client = await s3Client(target, { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey });
    for (const [f, v] of [
      ['s3-key-id', s3.accessKeyId],
      ['s3-secret', s3.secretAccessKey],
    ] as const) {
      writeFileSync(path.join(lab.dir, f), `${v}\n`);
      chmodSync(path.join(lab.dir, f), 0o600);
    }
    inv = writeInventory(lab, 'inventory-s3.yml', (text) => {
      const remote = [
        '  backup_keep: {count: 2}',
        '  backup_remote:',
        `    s3: {endpoint: "${s3.endpoint}", bucket: ${BUCKET}, prefix: ${PREFIX}, region: us-east-1, path_style: true}`,
        '    keep: {count: 3, max_age: 48h}',
      ].join('\n');
      const secrets = ['secrets:', '  s3_access_key_id: {file: ./s3-key-id}', '  s3_secret_access_key: {file: ./s3-secret}'].join('\n');
      return `${text.replace(/^ {2}config_file: .*$/m, (l) => `${l}\n${remote}`)}\n${secrets}\n`;
    });
    await writeCanaries(clientUrl(lab, 'etcd-1'));
  });

  after(async function () {
    client?.destroy();
    await s3?.stop();
    await labDown(DIR);
  });

  it('three backups in a row upload (read back, manifest as metadata); retention by count and age per side removes exactly what it should', async function () {
    const r1 = await apply(lab, 'backup.yml', [], inv);
    assert.equal(r1.code, 0, r1.all);
    const [first] = await snapshotKeys();
    assert.ok(first, 'the first backup is in the bucket');
    uploaded.push(first);
    const meta = await objectMetadata(client, target, first);
    const manifest = JSON.parse(readFileSync(path.join(lab.dir, 'backups', `${path.basename(first)}.manifest.json`), 'utf8')) as {
      sha256: string;
      revision: number;
      size: number;
    };
    assert.equal(meta?.sha256, manifest.sha256);
    assert.equal(meta?.revision, String(manifest.revision));
    assert.equal(meta?.cluster, 'lab');
    assert.equal(gauge('runbook_backup_last_run_success'), 1);
    assert.equal(gauge('runbook_backup_revision'), manifest.revision);
    assert.equal(gauge('runbook_backup_size_bytes'), manifest.size);

    // Objects whose age we set (their names' stamps), with the first snapshot's bytes and manifest.
    const body = readFileSync(path.join(lab.dir, 'backups', path.basename(first)));
    const now = Date.now();
    const planted = (h: number): string => `${PREFIX}lab-${stamp(new Date(now - h * 3600_000))}.db`;
    const [young, old50, old60, old72] = [planted(10), planted(50), planted(60), planted(72)];
    const { PutObjectCommand } = await import('@aws-sdk/client-s3');
    for (const key of [young, old50, old60, old72]) await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
    for (const key of [young, old50, old72]) await putText(client, target, `${key}.manifest.json`, JSON.stringify(manifest)); // old60: no manifest

    await nextSecond();
    const r2 = await apply(lab, 'backup.yml', [], inv);
    assert.equal(r2.code, 0, r2.all);
    // Remote rules {count: 3, max_age: 48h}: the newest three stay (this run's, the first, the 10 h one);
    // beyond them, the 50, 60 (never verified) and 72 h old ones are over 48 h too: deleted.
    const second = (await snapshotKeys()).find((k) => !uploaded.includes(k) && ![young, old50, old60, old72].includes(k));
    assert.ok(second);
    uploaded.push(second);
    assert.deepEqual(await snapshotKeys(), [...uploaded, young].sort());
    for (const [key, h] of [
      [old50, '2d 2h'],
      [old60, '2d 12h'],
      [old72, '3d'],
    ] as const) {
      assert.match(r2.out, new RegExp(`deleted s3://${BUCKET}/${key}: beyond the newest 3 and ${h} old, over max_age 2d`));
    }
    assert.match(r2.out, new RegExp(`kept s3://${BUCKET}/${young}: among the newest 3`));
    const keys = (await listObjects(client, target)).map((o) => o.key);
    for (const k of [old50, old72]) assert.ok(!keys.includes(`${k}.manifest.json`), `${k}'s manifest deleted with it`);

    await nextSecond();
    const r3 = await apply(lab, 'backup.yml', [], inv);
    assert.equal(r3.code, 0, r3.all);
    const third = (await snapshotKeys()).find((k) => !uploaded.includes(k) && k !== young);
    assert.ok(third);
    uploaded.push(third);
    // The 10 h old one is now beyond the newest 3 but within max_age: every rule must allow a deletion, so it stays.
    assert.deepEqual(await snapshotKeys(), [...uploaded, young].sort());
    assert.match(r3.out, new RegExp(`kept s3://${BUCKET}/${young}: 10h( \\d+m)? old, within max_age 2d`));
    assert.doesNotMatch(r3.out, /deleted s3:/);
    // Local rules {count: 2} on the controller and the member: the first snapshot went, with its manifest.
    assert.deepEqual(
      localDbs(),
      uploaded.slice(1).map((k) => path.basename(k)),
    );
    assert.ok(!existsSync(path.join(lab.dir, 'backups', `${path.basename(first)}.manifest.json`)));
    assert.match(r3.out, new RegExp(`deleted ${path.basename(uploaded[0] ?? '')}: beyond the newest 2`));
  });

  it('an upload cut by killing the server leaves no object counted as a backup, and the metrics say the run failed', async function () {
    const lastSuccess = gauge('runbook_backup_last_success_timestamp_seconds');
    // ~40 MiB of values: the upload is multipart (16 MiB parts) and takes long enough to cut.
    const big = 'x'.repeat(1024 * 1024);
    for (let i = 0; i < 40; i++) await put(clientUrl(lab, 'etcd-1'), `/bulk/${i}`, big);
    const before = await snapshotKeys();
    const run = apply(lab, 'backup.yml', [], inv);
    // Kill when the server has taken the first part of a multipart upload (s3rver keeps parts in its directory).
    await waitFor(
      's3rver receiving a part of a multipart upload',
      () => (readdirSync(s3.dir, { recursive: true }) as string[]).some((f) => /_S3rver_uploads\/[^/]+\/\d+$/.test(f)),
      300_000,
    );
    process.kill(s3.pid, 'SIGKILL');
    const r = await run;
    assert.equal(r.code, 1, r.all);
    assert.match(r.all, /upload of .* failed/);
    assert.equal(gauge('runbook_backup_last_run_success'), 0);
    assert.equal(gauge('runbook_backup_last_success_timestamp_seconds'), lastSuccess, 'the last success is kept');
    s3 = await startS3(s3.dir, BUCKET, s3Port);
    assert.deepEqual(await snapshotKeys(), before, 'no new object');
    const list = await runbook(['backups', 'list', '-i', inv, '--format', 'json']);
    assert.equal(list.code, 0, list.all);
    const remote = (JSON.parse(list.out) as { where: string; name: string; verified: boolean }[]).filter((e) => e.where === 'remote');
    assert.deepEqual(remote.map((e) => e.name).sort(), before.map((k) => path.basename(k)).sort());
    assert.ok(remote.every((e) => e.verified));
  });

  it('the drill: snapshot verify of the newest remote snapshot (restored, checked against its manifest), its result in the metrics', async function () {
    // `latest` alone is the cut run's controller copy (a good local backup); --remote: the bucket's newest.
    const local = await runbook(['snapshot', 'verify', 'latest', '-i', inv]);
    assert.equal(local.code, 0, local.all);
    assert.doesNotMatch(local.out, /s3:\/\//);
    const r = await runbook(['snapshot', 'verify', 'latest', '--remote', '-i', inv]);
    assert.equal(r.code, 0, r.all);
    assert.match(r.out, new RegExp(`s3://${BUCKET}/${uploaded[uploaded.length - 1] ?? ''}: downloading`));
    assert.match(r.out, /restorable[\s\S]*matches/);
    assert.equal(gauge('runbook_backup_verify_last_success'), 1);
  });

  it('a remote object with one byte changed is refused on every member before any data dir is touched', async function () {
    const key = uploaded[1] ?? '';
    const stored = (readdirSync(s3.dir, { recursive: true }) as string[])
      .map((f) => path.join(s3.dir, f))
      .filter((f) => f.endsWith(`${path.basename(key)}._S3rver_object`));
    assert.equal(stored.length, 1, stored.join(', '));
    const file = stored[0] ?? '';
    const bytes = readFileSync(file);
    bytes[Math.floor(bytes.length / 2)] = (bytes[Math.floor(bytes.length / 2)] ?? 0) ^ 0xff;
    writeFileSync(file, bytes);
    const r = await apply(lab, 'restore-all.yml', [`snapshot=s3://${BUCKET}/${key}`, 'allow_healthy=true'], inv);
    assert.equal(r.code, 1, r.all);
    for (const h of HOSTS) {
      assert.match(r.all, new RegExp(`${h}[^\\n]*sha256 of the downloaded snapshot does not match the manifest`));
      assert.deepEqual(await asideDirs(lab, h), [], `${h}: no data dir moved aside`);
    }
    await assertCanaries(clientUrl(lab, 'etcd-1'));
    // The drill on it fails, and the metrics say so.
    const drill = await runbook(['snapshot', 'verify', `s3://${BUCKET}/${key}`, '-i', inv]);
    assert.equal(drill.code, 1, drill.all);
    assert.match(drill.err, /does not match the manifest/);
    assert.equal(gauge('runbook_backup_verify_last_success'), 0);
  });

  it('restore-all from s3://: every member fetches it with a presigned URL (sha256 checked), every canary key is back', async function () {
    const key = uploaded[uploaded.length - 1] ?? '';
    const r = await apply(lab, 'restore-all.yml', [`snapshot=s3://${BUCKET}/${key}`, 'allow_healthy=true'], inv);
    assert.equal(r.code, 0, r.all);
    assert.doesNotMatch(r.all, /to the controller \(sha256 checked\)/, 'no member needed the controller');
    assert.doesNotMatch(r.all, /X-Amz-Signature=[0-9a-f]{16}/, 'no presigned URL in the output');
    const text = readdirSync(path.join(lab.dir, 'runs'))
      .map((f) => readFileSync(path.join(lab.dir, 'runs', f), 'utf8'))
      .join('\n');
    assert.doesNotMatch(text, /X-Amz-Signature=[0-9a-f]{16}/, 'no presigned URL in the journals');
    assert.doesNotMatch(text, new RegExp(s3.secretAccessKey === 'S3RVER' ? 'S3RVER(?!_)' : s3.secretAccessKey), 'no credentials in the journals');
    for (const h of HOSTS) await assertCanaries(clientUrl(lab, h));
  });

  it('a member that cannot fetch from the store (no working curl or wget there) gets a copy from the controller, downloaded there once', async function () {
    // Inside etcd-2's own mount namespace only: curl and wget become /bin/false (undone below).
    await onHost(lab, 'etcd-2', 'mount --bind /bin/false "$(command -v curl)" && mount --bind /bin/false "$(command -v wget)"');
    try {
      const key = uploaded[uploaded.length - 1] ?? '';
      const r = await apply(lab, 'restore-all.yml', [`snapshot=s3://${BUCKET}/${key}`, 'allow_healthy=true'], inv);
      assert.equal(r.code, 0, r.all);
      assert.equal(r.all.match(/downloaded s3:\/\/\S+ to the controller \(sha256 checked\)/g)?.length, 1, r.all);
      // The fetch step per member (found by its task's name): its member command's exit code (20: store out of reach).
      type Ev = {
        type: string;
        host?: string;
        stepId?: string;
        play?: number;
        task?: number;
        name?: string;
        result?: { actions?: { kind: string; code: number | null }[] };
      };
      const events = journal(lab, r) as unknown as Ev[];
      const fetchTask = events.find((e) => e.type === 'task.start' && e.name?.startsWith('Fetch the snapshot from the bucket'));
      assert.ok(fetchTask, 'the fetch task ran');
      const fetchCodes: Record<string, number | null | undefined> = Object.fromEntries(
        events
          .filter((e) => e.type === 'step.end' && e.stepId?.startsWith(`${fetchTask.play}.${fetchTask.task}@`))
          .map((e): [string, number | null | undefined] => [e.host ?? '', e.result?.actions?.find((a) => a.kind === 'exec')?.code]),
      );
      assert.deepEqual(fetchCodes, { 'etcd-1': 0, 'etcd-2': 20, 'etcd-3': 0 });
      for (const h of HOSTS) await assertCanaries(clientUrl(lab, h));
    } finally {
      await onHost(lab, 'etcd-2', 'umount "$(command -v curl)"; umount "$(command -v wget)"; true');
    }
  });
});
