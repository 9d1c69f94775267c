// etcd_backup: backups off the host and their records. Every op but `fetch` runs on the controller
// in-process (`remote` actions, engine/execute/remote-ops.ts): the S3 settings come from the
// inventory (cluster.backup_remote), the credentials from its secrets at run time, never from here.
import type { Action, JsonObject } from '../../model/types.js';
import { controllerPath } from '../../load/paths.js';
import { sh } from '../../shell/sh.js';
import { ArgError, exec, opsModule, str, type ModulePlan, type PlanCtx } from '../module.js';
import { ref } from './common.js';

/** The target as plan data (no credentials), or an error at the task when the inventory has none. */
function s3(ctx: PlanCtx): JsonObject {
  const r = ctx.inventory.cluster.backupRemote;
  if (!r)
    throw new ArgError(
      'op',
      `${ctx.inventory.file} has no cluster.backup_remote`,
      'set cluster.backup_remote (s3: endpoint, bucket, prefix, region) or skip the task',
    );
  return { ...(r.s3.endpoint ? { endpoint: r.s3.endpoint } : {}), bucket: r.s3.bucket, prefix: r.s3.prefix, region: r.s3.region, pathStyle: r.s3.pathStyle };
}

const remote = (op: string, args: JsonObject, bind: string): Action => ({ kind: 'remote', op, args, bind });

/** Exit code of the member fetch when the store cannot be reached from the member: the controller fetches instead. */
const UNREACHABLE = 20;

/**
 * A member downloads the snapshot itself with a presigned URL (curl, else wget), hashing it as it
 * lands; a member that cannot reach the store gets it from the controller (downloaded there once,
 * hash checked, then copied with its hash checked on the member). A wrong hash fails: never a fallback.
 */
function fetch(args: JsonObject, ctx: PlanCtx): ModulePlan {
  // Without a bucket there is nothing to fetch from: restore-all only runs this for an s3 snapshot.
  if (!ctx.inventory.cluster.backupRemote)
    return { actions: [{ kind: 'fail', message: 'the inventory has no cluster.backup_remote (a snapshot from s3:// needs one)' }] };
  const dest = str(args, 'dest');
  const sha = str(args, 'sha256');
  const key = str(args, 'key');
  const part = `${dest}.part`;
  const dir = dest.slice(0, dest.lastIndexOf('/')) || '/';
  const target = s3(ctx);
  // The URL reaches curl/wget on stdin (a curl config line), never argv: `ps` on the member shows no signature.
  const curl = sh`curl -fsS --connect-timeout 10 --speed-limit 1024 --speed-time 60 -o ${part} -K -`;
  const wget = sh`sed -n 's/^url = "\\(.*\\)"$/\\1/p' | wget -q -T 60 -O ${part} -i -`;
  const get = sh`if command -v curl >/dev/null 2>&1; then ${curl}; elif command -v wget >/dev/null 2>&1; then ${wget}; else exit ${UNREACHABLE}; fi`;
  const unreachable = sh`{ rm -f ${part}; echo ${'cannot download the snapshot from the store here; the controller will send it'} >&2; exit ${UNREACHABLE}; }`;
  const refused = sh`{ rm -f ${part}; echo ${`sha256 of the downloaded snapshot does not match the manifest (${sha}): refused`} >&2; exit 1; }`;
  const check = sh`printf '%s  %s\\n' ${sha} ${part} | sha256sum --check --strict --status -`;
  return {
    actions: [
      remote('presign', { s3: target, key, seconds: 900 }, 'signed'),
      exec(sh`mkdir -p ${dir} && rm -f ${part} && { ${get} || ${unreachable}; } && { ${check} || ${refused}; } && mv -f ${part} ${dest}`, {
        stdin: `url = "${ref('signed.url')}"\n`,
        okCodes: [0, UNREACHABLE],
        bind: 'got',
        note: 'fetch with a presigned URL, sha256 checked',
      }),
      {
        ...remote('download', { s3: target, key, dest: str(args, 'controller_file'), sha256: sha }, 'local'),
        when: `_.got.rc == ${UNREACHABLE}`,
      },
      { kind: 'put', src: ref('local.path'), dest, mode: '0600', sha256: sha, when: `_.got.rc == ${UNREACHABLE}` },
    ],
  };
}

const cluster = (ctx: PlanCtx): string => ctx.inventory.cluster.name;

export const etcd_backup = opsModule({
  name: 'etcd_backup',
  schema: 'etcd_backup',
  summary: 'backups off the host: upload (read back and verified), remote retention, locate a snapshot (latest, s3://), member fetch, metrics',
  ops: {
    // The snapshot, read back and verified; then its manifest, whose presence is what makes it count as a backup.
    upload: {
      readOnly: false,
      intent: (a) => `upload ${str(a, 'file')} to the bucket, read it back and check its sha256, then its manifest`,
      plan: (args, ctx) => ({
        actions: [remote('upload', { s3: s3(ctx), file: str(args, 'file'), cluster: cluster(ctx) }, 'uploaded')],
        result: ref('uploaded'),
      }),
    },
    // Remote retention with the remote rules (cluster.backup_remote.keep), never the local ones.
    prune: {
      readOnly: false,
      intent: () => 'delete bucket snapshots the remote keep rules allow (never the newest verified one), saying why',
      plan: (_args, ctx) => {
        const k = ctx.inventory.cluster.backupRemote?.keep ?? {};
        const keep = { ...(k.count !== undefined ? { count: k.count } : {}), ...(k.maxAgeSec !== undefined ? { max_age_sec: k.maxAgeSec } : {}) };
        return { actions: [remote('prune', { s3: s3(ctx), keep, cluster: cluster(ctx) }, 'pruned')], result: ref('pruned') };
      },
    },
    locate: {
      readOnly: true,
      intent: (a) => `choose the snapshot (${str(a, 'snapshot')}) on the controller or in the bucket and check it against its manifest`,
      plan: (args, ctx) => {
        const c = ctx.inventory.cluster;
        const r: JsonObject = c.backupRemote ? { s3: s3(ctx) } : {};
        return {
          actions: [
            remote(
              'locate',
              { snapshot: str(args, 'snapshot'), dir: str(args, 'dir', controllerPath(c.controllerBackupDir)), cluster: c.name, ...r },
              'chosen',
            ),
          ],
          result: ref('chosen'),
        };
      },
    },
    fetch: {
      readOnly: false,
      plan: fetch,
      intent: () => 'download the snapshot from the bucket with a short-lived presigned URL (the controller copy as fallback), sha256 checked here',
    },
    metrics: {
      readOnly: false,
      intent: () => 'write the backup metrics file for the Prometheus textfile collector',
      plan: (args, ctx) => ({
        actions: [
          remote(
            'metrics',
            {
              dir: controllerPath(ctx.inventory.cluster.backupMetricsDir),
              cluster: cluster(ctx),
              success: str(args, 'success'),
              manifest: str(args, 'manifest'),
            },
            'metrics',
          ),
        ],
        result: ref('metrics'),
      }),
    },
  },
});
