// etcd_snapshot: save (with manifest), status, verify, distribute, restore into a fresh data dir, prune.
import type { Action, JsonObject } from '../../model/types.js';
import { joinSh, raw, sh } from '../../shell/sh.js';
import { bool, exec, local, num, opsModule, optStr, str, RUN_ID, RUN_STAMP, type ModulePlan, type PlanCtx } from '../module.js';
import { ctl, endpointHealth, ref, selfEndpoint, snapshotTool } from './common.js';
import { controllerPath } from '../../load/paths.js';
import { parseDuration } from '../../inventory/backup-settings.js';

function save(args: JsonObject, ctx: PlanCtx): ModulePlan {
  const c = ctx.inventory.cluster;
  const dir = str(args, 'dir', c.backupDir);
  const file = optStr(args, 'file') ?? `${dir}/${c.name}-${RUN_STAMP}.db`;
  const tool = snapshotTool(ctx);
  const source = '⟨_.source⟩';
  return {
    actions: [
      // Read from a healthy member: this host's own when it is healthy, else the first healthy one.
      endpointHealth(ctx, ctx.inventory.facts.endpoints),
      { kind: 'derive', fn: 'pick_healthy', args: [ref('health.json'), selfEndpoint(ctx)], bind: 'source' },
      // etcdctl writes <file>.part and renames it when complete; a failed save leaves no partial file behind.
      exec(
        sh`mkdir -p ${dir} && { ${ctl(ctx, source)} snapshot save ${file} || { rc=$?; rm -f ${`${file}.part`}; echo ${`snapshot save failed; partial file ${file}.part removed`} >&2; exit $rc; }; }`,
      ),
      exec(sh`${tool} --write-out=json snapshot status ${file}`, { parse: 'json', probe: true, bind: 'status' }),
      // The revision read from the host is parsed to an integer before it reaches a command.
      { kind: 'derive', fn: 'revision', args: [ref('status.json.revision')], bind: 'revision' },
      exec(sh`${ctl(ctx, source, true)} get '' --prefix --keys-only --limit=1 --rev=⟨_.revision⟩ --write-out=json`, {
        parse: 'json',
        probe: true,
        bind: 'count',
      }),
      exec(sh`printf '{"sha256":"%s","size":%s}\\n' "$(sha256sum ${file} | cut -d' ' -f1)" "$(stat -c %s ${file})"`, {
        parse: 'json',
        probe: true,
        bind: 'file',
      }),
      // The manifest names the source member: its client URL → name, from the inventory.
      {
        kind: 'derive',
        fn: 'snapshot_manifest',
        args: [
          ref('status.json'),
          ref('file.json'),
          file,
          ref('source'),
          c.etcdVersion,
          ref('count.json'),
          Object.fromEntries(ctx.inventory.facts.members.map((m) => [m.clientUrl, m.name])),
        ],
        bind: 'manifest',
      },
      { kind: 'derive', fn: 'json', args: [ref('manifest')], bind: 'manifest_json' },
      { kind: 'put', dest: `${file}.manifest.json`, mode: '0600', content: ref('manifest_json') },
    ],
    result: ref('manifest'),
  };
}

/**
 * backup.yml's snapshot as one step (upgrade.yml takes one before it changes anything): save on a
 * healthy member, fetch the snapshot and its manifest to the controller (hash checked on arrival),
 * then check the fetched copy against the manifest on the controller.
 */
function backup(args: JsonObject, ctx: PlanCtx): ModulePlan {
  const c = ctx.inventory.cluster;
  const dir = str(args, 'dir', c.backupDir);
  const file = `${c.name}-${RUN_STAMP}.db`;
  const saved = save({ ...args, dir, file: `${dir}/${file}` }, ctx);
  const dest = str(args, 'dest', controllerPath(c.controllerBackupDir));
  const copy = `${dest}/${file}`;
  return {
    actions: [
      ...saved.actions,
      { kind: 'get', src: `${dir}/${file}`, dest: `${dest}/`, bind: 'fetched' },
      { kind: 'get', src: `${dir}/${file}.manifest.json`, dest: `${dest}/`, bind: 'fetched_manifest' },
      local(sh`cat ${`${copy}.manifest.json`}`, { parse: 'json', probe: true, bind: 'fetched_manifest_json' }),
      local(hashCheck(copy, ref('fetched_manifest_json.json.sha256'), 'its manifest'), { probe: true }),
    ],
    result: ref('manifest'),
  };
}

function hashCheck(file: string, sha: string, what: string): ReturnType<typeof sh> {
  return sh`printf '%s  %s\\n' ${sha} ${file} | sha256sum --check --strict --status - || { echo ${`sha256 of ${file} does not match ${what}`} >&2; exit 1; }`;
}

function status(ctx: PlanCtx, file: string): Action {
  return exec(sh`${snapshotTool(ctx)} --write-out=json snapshot status ${file}`, { parse: 'json', probe: true, bind: 'status' });
}

function restore(args: JsonObject, ctx: PlanCtx): ModulePlan {
  const m = ctx.host.etcd;
  if (!m) throw new Error(`${ctx.host.name} is not an etcd member`);
  const c = ctx.inventory.cluster;
  const f = ctx.inventory.facts;
  const fresh = `${m.dataDir}.restore-${RUN_ID}`;
  const token = str(args, 'token', `${c.token}-${RUN_ID}`);
  const bump = num(args, 'bump_revision', c.bumpRevision);
  const flags = joinSh(
    [
      sh`--name=${m.name}`,
      sh`--initial-advertise-peer-urls=${m.peerUrl}`,
      sh`--initial-cluster=${str(args, 'initial_cluster', f.initialCluster)}`,
      sh`--initial-cluster-token=${token}`,
      sh`--data-dir=${fresh}`,
      ...(bool(args, 'skip_hash_check') ? [raw('--skip-hash-check')] : []),
      ...(bump > 0 && f.supportsBumpRevision ? [sh`--bump-revision=${bump}`, raw('--mark-compacted')] : []),
    ],
    ' ',
  );
  return {
    actions: [
      exec(sh`test ! -e ${m.dataDir} || { echo ${`${m.dataDir} still exists: move it aside before restoring`} >&2; exit 1; }`, { probe: true }),
      exec(sh`${snapshotTool(ctx)} snapshot restore ${str(args, 'file')} ${flags}`),
      exec(
        sh`chown -R ${`${c.etcdUser}:${c.etcdUser}`} ${fresh} && chmod 0700 ${fresh} && mv -T -n ${fresh} ${m.dataDir} && test -d ${`${m.dataDir}/member`}`,
        { note: 'swap the fresh data dir in' },
      ),
    ],
  };
}

/** Where a member listens for the relay: the host of its peer URL (members reach each other there), else its address. */
function relayAddress(ctx: PlanCtx): string {
  const peer = ctx.host.etcd?.peerUrl;
  if (peer === undefined) return ctx.host.address;
  return new URL(peer).hostname.replace(/^\[(.*)\]$/, '$1');
}

function compression(v: string | undefined): 'auto' | 'zstd' | 'off' {
  return v === 'zstd' || v === 'off' ? v : 'auto';
}

export const etcd_snapshot = opsModule({
  name: 'etcd_snapshot',
  schema: 'etcd_snapshot',
  summary: 'snapshot save (with manifest), status, verify, distribute, restore into a fresh data dir, prune',
  ops: {
    save: {
      readOnly: false,
      plan: save,
      intent: (a, c) =>
        `save a snapshot from a healthy member (this one if healthy) into ${str(a, 'dir', c.inventory.cluster.backupDir)} with sha256 and key count`,
    },
    backup: { readOnly: false, plan: backup, intent: () => 'save a snapshot, fetch it and its manifest to the controller and check the copy there' },
    status: {
      readOnly: true,
      plan: (args, ctx) => ({ actions: [status(ctx, str(args, 'file'))], result: ref('status.json') }),
      intent: (a) => `read the revision and hash of ${str(a, 'file')}`,
    },
    // Controller side: read a snapshot's manifest and check the file against it before anything else.
    manifest: {
      readOnly: true,
      plan: (args) => {
        const file = str(args, 'file');
        return {
          actions: [
            local(sh`cat ${`${file}.manifest.json`}`, { parse: 'json', probe: true, bind: 'manifest' }),
            local(hashCheck(file, ref('manifest.json.sha256'), 'its manifest'), { probe: true }),
          ],
          result: ref('manifest.json'),
        };
      },
      intent: (a) => `on the controller: check ${str(a, 'file')} against its manifest (sha256)`,
    },
    verify: {
      readOnly: true,
      plan: (args, ctx) => ({
        actions: [
          exec(hashCheck(str(args, 'file'), str(args, 'sha256'), 'the manifest'), { probe: true, note: 'hash must match the manifest' }),
          status(ctx, str(args, 'file')),
        ],
        result: ref('status.json'),
      }),
      intent: (a) => `check ${str(a, 'file')} has the manifest's sha256 and is a readable snapshot`,
    },
    distribute: {
      readOnly: false,
      plan: (args, ctx) => {
        const dest = str(args, 'dest');
        const put: Action = { kind: 'put', src: str(args, 'src'), dest, mode: '0600', sha256: str(args, 'sha256') };
        // Relay: the controller sends the file once, members pass it on over their peer network
        // (engine/transports/relay); every copy is hashed where it is written either way. The
        // member-to-member stream is plain TCP: on a TLS cluster a snapshot (every Secret) never
        // crosses the peer network less protected than etcd's own traffic unless asked (auto = relay
        // on http clusters, parallel copies over SSH on https ones).
        const auto = ctx.inventory.cluster.scheme === 'https' ? 'parallel' : 'relay';
        const strategy = str(args, 'strategy', 'auto');
        if ((strategy === 'auto' ? auto : strategy) === 'relay') put.relay = { listen: relayAddress(ctx), compress: compression(optStr(args, 'compress')) };
        return { actions: [exec(sh`mkdir -p ${dest.slice(0, dest.lastIndexOf('/')) || '/'}`), put] };
      },
      intent: (a, c) => {
        const s = str(a, 'strategy', 'auto');
        const relay = (s === 'auto' ? (c.inventory.cluster.scheme === 'https' ? 'parallel' : 'relay') : s) === 'relay';
        const how = relay ? 'sent once, relayed member to member' : 'one copy per member over SSH';
        return `copy ${str(a, 'src')} from the controller to ${str(a, 'dest')} (${how}; sha256 checked as written)`;
      },
    },
    restore: {
      readOnly: false,
      plan: restore,
      intent: (a, c) =>
        `restore ${str(a, 'file')} into a fresh data dir as this member (its name and peer URL, the full cluster, a new token), ` +
        `then swap it in for ${c.host.etcd?.dataDir ?? '?'} (refused while that still exists)`,
    },
    // Controller side: from every member's registered `snapshot status` of its own db, the highest revision.
    select: {
      readOnly: true,
      plan: (args) => ({
        actions: [{ kind: 'derive', fn: 'highest_revision_from', args: ['⟨!hostvars⟩', str(args, 'from')], bind: 'best' }],
        result: ref('best'),
      }),
      intent: (a) => `on the controller: choose the member whose registered ${str(a, 'from')} shows the highest revision`,
    },
    // Count and age, each side on its own (inventory backup_keep); the deciding is pure
    // (modules/retention.ts, unit-tested); the host only lists and deletes what was decided, saying why.
    prune: {
      readOnly: false,
      plan: (args, ctx) => {
        const c = ctx.inventory.cluster;
        const dir = str(args, 'dir', c.backupDir);
        const count = args.keep !== undefined ? num(args, 'keep', c.backupRetention) : c.backupKeep.count;
        const maxAge = optStr(args, 'max_age');
        const maxAgeSec = maxAge !== undefined ? parseDuration(maxAge) : c.backupKeep.maxAgeSec;
        const rules = { ...(count !== undefined ? { count } : {}), ...(maxAgeSec !== undefined && maxAgeSec !== null ? { max_age_sec: maxAgeSec } : {}) };
        // The cluster name is schema-checked ([a-z0-9._-]); quoted anyway, the glob after it left open.
        const glob = sh`${c.name}${raw('-*.db')}`;
        const listOne = sh`[ -f "$f" ] || continue; m=0; [ -f "$f.manifest.json" ] && m=1; printf '%s\\t%s\\t%s\\n' "$f" "$m" "$(stat -c %Y -- "$f")"`;
        // Only names of this cluster's snapshots, in this directory, whatever the decision's lines say.
        const safe = sh`case "$f" in ${glob}) ;; *) continue ;; esac; case "$f" in */*) continue ;; esac`;
        const deleteOne = sh`${safe}; rm -f -- "$f" "$f.manifest.json" && printf 'deleted %s: %s\\n' "$f" "$why"`;
        return {
          actions: [
            exec(sh`cd ${dir} 2>/dev/null || exit 0; for f in ${glob}; do ${listOne}; done`, { probe: true, bind: 'listing' }),
            { kind: 'derive', fn: 'retention', args: [ref('listing.stdout'), c.name, rules, RUN_STAMP], bind: 'decision' },
            exec(sh`cd ${dir} && while IFS="$(printf '\\t')" read -r f why; do ${deleteOne}; done`, {
              stdin: ref('decision.lines'),
              note: `keep: ${JSON.stringify(rules)}`,
            }),
          ],
          result: ref('decision'),
        };
      },
      intent: (a, c) =>
        `delete all but the newest ${num(a, 'keep', c.inventory.cluster.backupRetention)} snapshots of ${c.inventory.cluster.name} in ${str(a, 'dir', c.inventory.cluster.backupDir)}`,
    },
  },
});
