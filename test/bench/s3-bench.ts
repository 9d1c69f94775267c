// Benchmark (`npm run bench -- s3`): upload and remote-restore throughput of a 1 GiB snapshot-sized
// file against a real S3-protocol server (s3rver on 127.0.0.1, test/lab/s3-server.ts), each against
// aws-CLI-less baselines measured in the same run:
//   upload   runbook's `upload` op (hash vs manifest, multipart with per-part SHA-256, HEAD read-back,
//            manifest object) ← sha256sum + `curl --upload-file` to a presigned PUT URL (fair: hashed
//            too) and the bare `curl --upload-file` (reference: nothing checked);
//   restore  the command runbook gives each member (presigned GET URL on stdin to curl, sha256 check,
//            rename) and the controller fallback (SDK download + sha256) ← `curl -o` + sha256sum
//            (fair) and the bare `curl -o` (reference).
// RUNBOOK_BENCH_S3_MIB changes the size (default 1024). Everything lives in a temp dir, removed after.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildPlan } from '../../engine/cli/inputs.js';
import { Redactor } from '../../engine/execute/redaction.js';
import { REMOTE_OPS } from '../../engine/execute/remote-ops.js';
import type { JsonObject } from '../../engine/model/types.js';
import { presignGet, s3Client, type S3Target } from '../../engine/remote/s3.js';
import { startS3 } from '../lab/s3-server.js';
import { fmtMs, fmtRatio, makeRandomFile, mustRunChild, table } from './bench-util.js';

const MIB = Number(process.env.RUNBOOK_BENCH_S3_MIB ?? 1024);
const SIZE = MIB * 1024 * 1024;

/** `sh -c CMD` with `stdin`; must exit 0. */
function sh(cmd: string, stdin = ''): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn('sh', ['-c', cmd], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b: Buffer) => void (err += b.toString()));
    child.on('close', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`${cmd.slice(0, 80)}… exited ${String(code)}: ${err}`))));
    child.stdin.end(stdin);
  });
}

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

export async function benchS3(): Promise<string[]> {
  const out = [`s3: upload and remote restore of a ${MIB} MiB snapshot to/from s3rver on 127.0.0.1 (one round each; throughput in MiB/s)`];
  const work = mkdtempSync(join(tmpdir(), 'runbook-bench-s3-'));
  const s3 = await startS3(join(work, 's3'), 'bench');
  try {
    const t: S3Target = { endpoint: s3.endpoint, bucket: 'bench', prefix: 'etcd/', region: 'us-east-1', pathStyle: true };
    const client = await s3Client(t, { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey });
    const file = join(work, 'bench-20240101T000000Z.db');
    const sha = makeRandomFile(file, SIZE);
    writeFileSync(`${file}.manifest.json`, JSON.stringify({ file: 'bench-20240101T000000Z.db', sha256: sha, size: SIZE, revision: 1, live_keys: 0 }));
    const env = {
      scope: { secrets: { s3_access_key_id: s3.accessKeyId, s3_secret_access_key: s3.secretAccessKey }, run: { id: 'bench' } },
      redact: new Redactor([]),
      signal: new AbortController().signal,
      say: () => undefined,
    };
    const s3Args = t as unknown as JsonObject;
    const { PutObjectCommand } = await import('@aws-sdk/client-s3');
    const { getSignedUrl } = await import('@aws-sdk/s3-request-presigner');
    const putUrl = async (key: string): Promise<string> => getSignedUrl(client, new PutObjectCommand({ Bucket: 'bench', Key: key }), { expiresIn: 3600 });
    const mibps = (ms: number): string => (MIB / (ms / 1000)).toFixed(0);

    // Upload.
    let t0 = performance.now();
    await REMOTE_OPS.upload?.({ s3: s3Args, file, cluster: 'bench' }, env);
    const up = performance.now() - t0;
    const upFair = await sh(`sha256sum ${q(file)} >/dev/null && curl -fsS --upload-file ${q(file)} ${q(await putUrl('etcd/fair.db'))}`);
    const upRef = await sh(`curl -fsS --upload-file ${q(file)} ${q(await putUrl('etcd/ref.db'))}`);

    // Restore: the member command exactly as runbook plans it (a one-task playbook on an inventory naming this bucket).
    const dir = join(work, 'plan');
    const secret = join(work, 'secret');
    writeFileSync(secret, s3.secretAccessKey, { mode: 0o600 });
    writeFileSync(
      join(work, 'inv.yml'),
      [
        'cluster:',
        '  name: bench',
        '  etcd_version: "3.5.30"',
        '  backup_remote:',
        `    s3: {endpoint: "${s3.endpoint}", bucket: bench, prefix: etcd/, region: us-east-1, path_style: true}`,
        'hosts:',
        '  m1: {address: 127.0.0.1}',
        'groups:',
        '  etcd: {hosts: [m1]}',
        'secrets:',
        `  s3_access_key_id: {file: ${secret}}`,
        `  s3_secret_access_key: {file: ${secret}}`,
        '',
      ].join('\n'),
    );
    const dest = join(work, 'restore.db');
    writeFileSync(
      join(work, 'fetch.yml'),
      [
        '- name: f',
        '  hosts: etcd',
        '  tasks:',
        `    - etcd_backup: {op: fetch, key: etcd/bench-20240101T000000Z.db, dest: ${dest}, sha256: ${sha}, controller_file: ${dir}/c.db}`,
        '',
      ].join('\n'),
    );
    const plan = buildPlan({ playbook: join(work, 'fetch.yml'), inventory: join(work, 'inv.yml') }).plan;
    const fetch = plan?.plays[0]?.tasks[0]?.steps[0]?.actions.find((a) => a.kind === 'exec');
    if (fetch?.kind !== 'exec') throw new Error('no fetch command in the plan');
    const url = await presignGet(client, t, 'etcd/bench-20240101T000000Z.db', 900);
    const member = await sh(fetch.cmd, `url = "${url}"\n`);
    rmSync(dest, { force: true });
    t0 = performance.now();
    await REMOTE_OPS.download?.({ s3: s3Args, key: 'etcd/bench-20240101T000000Z.db', dest, sha256: sha }, env);
    const fallback = performance.now() - t0;
    rmSync(dest, { force: true });
    const fair = await sh(`curl -fsS -o ${q(dest)} ${q(url)} && sha256sum ${q(dest)} >/dev/null`);
    rmSync(dest, { force: true });
    const ref = await sh(`curl -fsS -o ${q(dest)} ${q(url)}`);
    rmSync(dest, { force: true });
    client.destroy();
    await mustRunChild('sync', 'sync', []);

    out.push(
      ...table(
        ['contender', 'time', 'MiB/s', 'vs fair baseline'],
        [
          ['upload: runbook (hash, multipart + SHA-256 per part, read back, manifest)', fmtMs(up), mibps(up), fmtRatio(up / upFair)],
          ['upload: sha256sum + curl --upload-file (presigned PUT)  [fair baseline]', fmtMs(upFair), mibps(upFair), '1.00×'],
          ['upload: curl --upload-file alone  [reference]', fmtMs(upRef), mibps(upRef), fmtRatio(upRef / upFair)],
          ['restore: runbook member fetch (presigned GET via curl -K -, sha256 check, rename)', fmtMs(member), mibps(member), fmtRatio(member / fair)],
          ['restore: runbook controller fallback (SDK download + sha256)', fmtMs(fallback), mibps(fallback), fmtRatio(fallback / fair)],
          ['restore: curl -o + sha256sum  [fair baseline]', fmtMs(fair), mibps(fair), '1.00×'],
          ['restore: curl -o alone  [reference]', fmtMs(ref), mibps(ref), fmtRatio(ref / fair)],
        ],
      ),
    );
    out.push('  one round on a shared machine: the ratios, not the absolute numbers, are what to compare; s3rver (Node) is the bottleneck of every contender');
  } finally {
    await s3.stop();
    rmSync(work, { recursive: true, force: true });
  }
  return out;
}
