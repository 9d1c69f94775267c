// etcd modules: snapshot, member, health, maintenance, service and config. Typed: every etcdctl
// call that feeds a decision uses `-w json` and a derive function, never grep over text output.
import { jsonText, type Action, type Json, type JsonObject } from '../model/types.js';
import { etcdctlFor, snapshotTool } from '../inventory/facts.js';
import { bool, num, optStr, q, str, RUN_ID, RUN_STAMP, type ModuleDef, type ModulePlan, type PlanCtx } from './module.js';

const ref = (name: string): string => `⟨!_.${name}⟩`;

function selfEndpoint(ctx: PlanCtx): string {
  return ctx.host.etcd?.clientUrl ?? ctx.inventory.facts.endpoints;
}

function endpoints(ctx: PlanCtx, which: string | undefined): string {
  if (which === undefined || which === 'all') return ctx.inventory.facts.endpoints;
  if (which === 'self') return selfEndpoint(ctx);
  // A comma-separated list of member (host) names.
  return which
    .split(',')
    .map((n) => ctx.inventory.facts.members.find((m) => m.name === n.trim())?.clientUrl ?? n.trim())
    .join(',');
}

function ctl(ctx: PlanCtx, eps: string, probe = false): string {
  return etcdctlFor(ctx.inventory.facts, eps, { probe });
}

/**
 * Ask etcdctl only about members whose client port accepts a connection; with none, print [].
 * A stopped member refuses at once, while etcdctl would retry it until --command-timeout (5 s):
 * this is what makes "is quorum really lost?" fast when every member is down. A live member always
 * has its port open, so it is still asked (and a hung one still counts as unhealthy).
 */
function listeningOnly(ctx: PlanCtx, eps: string, sub: string): string {
  const f = ctx.inventory.facts;
  // The script is the same for every cluster; the members come last as a normal --endpoints=
  // argument, so reviews and `runbook diff` see (and compare) them like any other endpoint list.
  const script = [
    'open=',
    'IFS=,',
    `for u in \${1#--endpoints=}; do hp=\${u#*://}; if timeout 2 bash -c 'exec 3<>"/dev/tcp/\${0%:*}/\${0##*:}"' "$hp" 2>/dev/null; then open=\${open:+$open,}$u; fi; done`,
    'unset IFS',
    `if [ -z "$open" ]; then echo '[]'; else ${f.etcdctl} --endpoints="$open" --dial-timeout=2s --command-timeout=5s ${sub}; fi`,
  ].join('; ');
  return `bash -c ${q(script)} listening-only --endpoints=${eps}`;
}

/** etcdctl against an endpoint known only at run time (a ⟨_.x⟩ placeholder, quoted when filled). */
function ctlRaw(ctx: PlanCtx, endpointToken: string, probe = false): string {
  const f = ctx.inventory.facts;
  return `${f.etcdctl} --endpoints=${endpointToken}${probe ? ' --dial-timeout=2s --command-timeout=5s' : ''}`;
}

// ───────────── etcd_snapshot ─────────────

function snapshotSave(args: JsonObject, ctx: PlanCtx): { actions: Action[]; result: Json } {
  const c = ctx.inventory.cluster;
  const dir = str(args, 'dir', c.backupDir);
  const file = optStr(args, 'file') ?? `${dir}/${c.name}-${RUN_STAMP}.db`;
  const tool = snapshotTool(ctx.inventory.facts);
  const source = '⟨_.source⟩';
  return {
    actions: [
      // Read from a healthy member: this host's own when it is healthy, else the first healthy one.
      { kind: 'exec', cmd: `${ctl(ctx, ctx.inventory.facts.endpoints, true)} endpoint health --write-out=json`, parse: 'json', probe: true, okCodes: [0, 1], bind: 'health' },
      { kind: 'derive', fn: 'pick_healthy', args: [ref('health.json'), selfEndpoint(ctx)], bind: 'source' },
      // etcdctl writes <file>.part and renames it when complete; a failed save leaves no partial file behind.
      { kind: 'exec', cmd: `mkdir -p ${q(dir)} && { ${ctlRaw(ctx, source)} snapshot save ${q(file)} || { rc=$?; rm -f ${q(`${file}.part`)}; echo ${q(`snapshot save failed; partial file ${file}.part removed`)} >&2; exit $rc; }; }` },
      { kind: 'exec', cmd: `${tool} --write-out=json snapshot status ${q(file)}`, parse: 'json', probe: true, bind: 'status' },
      { kind: 'exec', cmd: `${ctlRaw(ctx, source, true)} get '' --prefix --keys-only --limit=1 --rev=${ref('status.json.revision')} --write-out=json`, parse: 'json', probe: true, bind: 'count' },
      { kind: 'exec', cmd: `printf '{"sha256":"%s","size":%s}\\n' "$(sha256sum ${q(file)} | cut -d' ' -f1)" "$(stat -c %s ${q(file)})"`, parse: 'json', probe: true, bind: 'file' },
      // The manifest names the source member: its client URL → name, from the inventory.
      { kind: 'derive', fn: 'snapshot_manifest', args: [ref('status.json'), ref('file.json'), file, ref('source'), c.etcdVersion, ref('count.json'), Object.fromEntries(ctx.inventory.facts.members.map((m) => [m.clientUrl, m.name]))], bind: 'manifest' },
      { kind: 'derive', fn: 'json', args: [ref('manifest')], bind: 'manifest_json' },
      { kind: 'put', dest: `${file}.manifest.json`, mode: '0600', content: ref('manifest_json') },
    ],
    result: ref('manifest'),
  };
}

function verifyFile(file: string, sha: string): Action {
  return {
    kind: 'exec',
    probe: true,
    cmd: `printf '%s  %s\\n' ${q(sha)} ${q(file)} | sha256sum --check --strict --status - || { echo ${q(`sha256 of ${file} does not match the manifest`)} >&2; exit 1; }`,
    note: 'hash must match the manifest',
  };
}

export const etcd_snapshot: ModuleDef = {
  name: 'etcd_snapshot',
  schema: 'etcd_snapshot',
  summary: 'snapshot save (with manifest), status, verify, distribute, restore into a fresh data dir, prune',
  readOnly: (args) => ['status', 'verify', 'manifest', 'select'].includes(jsonText(args.op)),
  plan: (args, ctx) => {
    const op = str(args, 'op');
    const c = ctx.inventory.cluster;
    const tool = snapshotTool(ctx.inventory.facts);
    switch (op) {
      case 'save':
        return snapshotSave(args, ctx);
      case 'status': {
        const file = str(args, 'file');
        return { actions: [{ kind: 'exec', cmd: `${tool} --write-out=json snapshot status ${q(file)}`, parse: 'json', probe: true, bind: 'status' }], result: ref('status.json') };
      }
      case 'manifest': {
        // Controller side: read a snapshot's manifest and check the file against it before anything else.
        const file = str(args, 'file');
        return {
          actions: [
            { kind: 'local', cmd: `cat ${q(`${file}.manifest.json`)}`, parse: 'json', probe: true, bind: 'manifest' },
            { kind: 'local', probe: true, cmd: `printf '%s  %s\\n' ${q(ref('manifest.json.sha256'))} ${q(file)} | sha256sum --check --strict --status - || { echo ${q(`sha256 of ${file} does not match its manifest`)} >&2; exit 1; }` },
          ],
          result: ref('manifest.json'),
        };
      }
      case 'verify':
        return {
          actions: [verifyFile(str(args, 'file'), str(args, 'sha256')), { kind: 'exec', cmd: `${tool} --write-out=json snapshot status ${q(str(args, 'file'))}`, parse: 'json', probe: true, bind: 'status' }],
          result: ref('status.json'),
        };
      case 'distribute': {
        const dest = str(args, 'dest');
        return {
          actions: [
            { kind: 'exec', cmd: `mkdir -p ${q(dest.slice(0, dest.lastIndexOf('/')) || '/')}` },
            // The transport hashes the copy on the host as it is written and refuses a mismatch.
            { kind: 'put', src: str(args, 'src'), dest, mode: '0600', sha256: str(args, 'sha256') },
          ],
        };
      }
      case 'restore': {
        const m = ctx.host.etcd;
        if (!m) throw new Error(`${ctx.host.name} is not an etcd member`);
        const f = ctx.inventory.facts;
        const fresh = `${m.dataDir}.restore-${RUN_ID}`;
        const token = str(args, 'token', `${c.token}-${RUN_ID}`);
        const flags = [
          `--name=${q(m.name)}`,
          `--initial-advertise-peer-urls=${q(m.peerUrl)}`,
          `--initial-cluster=${q(str(args, 'initial_cluster', f.initialCluster))}`,
          `--initial-cluster-token=${q(token)}`,
          `--data-dir=${q(fresh)}`,
        ];
        if (bool(args, 'skip_hash_check')) flags.push('--skip-hash-check');
        const bump = num(args, 'bump_revision', c.bumpRevision);
        if (bump > 0 && f.supportsBumpRevision) flags.push(`--bump-revision=${bump}`, '--mark-compacted');
        return {
          actions: [
            { kind: 'exec', probe: true, cmd: `test ! -e ${q(m.dataDir)} || { echo ${q(`${m.dataDir} still exists: move it aside before restoring`)} >&2; exit 1; }` },
            { kind: 'exec', cmd: `${tool} snapshot restore ${q(str(args, 'file'))} ${flags.join(' ')}` },
            { kind: 'exec', cmd: `chown -R ${q(`${c.etcdUser}:${c.etcdUser}`)} ${q(fresh)} && chmod 0700 ${q(fresh)} && mv -T -n ${q(fresh)} ${q(m.dataDir)} && test -d ${q(`${m.dataDir}/member`)}`, note: 'swap the fresh data dir in' },
          ],
        };
      }
      case 'select':
        // Controller side: from every member's registered `snapshot status` of its own db, the highest revision.
        return { actions: [{ kind: 'derive', fn: 'highest_revision_from', args: ['⟨!hostvars⟩', str(args, 'from')], bind: 'best' }], result: ref('best') };
      case 'prune': {
        const dir = str(args, 'dir', c.backupDir);
        const keep = num(args, 'keep', c.backupRetention);
        return {
          actions: [
            {
              kind: 'exec',
              cmd: `cd ${q(dir)} && ls -1t -- ${q(c.name)}-*.db 2>/dev/null | tail -n +${keep + 1} | while IFS= read -r f; do rm -f -- "$f" "$f.manifest.json" && echo "pruned $f"; done`,
              note: `keep the newest ${keep}`,
            },
          ],
        };
      }
      default:
        throw new Error(`unknown op ${op}`);
    }
  },
};

// ───────────── etcd_member ─────────────

export const etcd_member: ModuleDef = {
  name: 'etcd_member',
  schema: 'etcd_member',
  summary: 'member list (hex IDs), add (learner first where supported), promote, remove/update by name',
  readOnly: (args) => args.op === 'list',
  plan: (args, ctx) => {
    const op = str(args, 'op');
    const eps = endpoints(ctx, optStr(args, 'endpoints'));
    const list: Action = { kind: 'exec', cmd: `${ctl(ctx, eps, true)} member list --write-out=json`, parse: 'json', probe: true, bind: 'list' };
    const name = optStr(args, 'name') ?? '';
    const byName: Action = { kind: 'derive', fn: 'member_id', args: [ref('list.json'), name], bind: 'id' };
    switch (op) {
      case 'list':
        return { actions: [list, { kind: 'derive', fn: 'members', args: [ref('list.json')], bind: 'members' }], result: ref('members') };
      case 'remove': {
        const keep = optStr(args, 'keep_peer_url');
        const pick: Action[] = keep
          ? [
              { kind: 'exec', cmd: `${ctl(ctx, eps, true)} endpoint health --cluster --write-out=json`, parse: 'json', probe: true, okCodes: [0, 1], bind: 'health' },
              { kind: 'derive', fn: 'member_to_replace', args: [ref('list.json'), ref('health.json'), name, keep], bind: 'id' },
            ]
          : [byName];
        return { actions: [list, ...pick, { kind: 'exec', cmd: `${ctl(ctx, eps)} member remove ⟨_.id⟩` }], result: ref('id') };
      }
      case 'promote':
        return { actions: [list, byName, { kind: 'exec', cmd: `${ctl(ctx, eps)} member promote ⟨_.id⟩` }], result: ref('id') };
      case 'update':
        return { actions: [list, byName, { kind: 'exec', cmd: `${ctl(ctx, eps)} member update ⟨_.id⟩ --peer-urls=${q(str(args, 'peer_url'))}` }], result: ref('id') };
      case 'add': {
        const peer = str(args, 'peer_url');
        const learner = bool(args, 'learner', true) && ctx.inventory.facts.supportsLearner;
        return {
          actions: [
            list,
            // Idempotent: a retried add after a reported failure that in fact succeeded does not add twice.
            { kind: 'derive', fn: 'has_peer', args: [ref('list.json'), peer], bind: 'present' },
            { kind: 'exec', cmd: `${ctl(ctx, eps)} member add ${q(name)} --peer-urls=${q(peer)}${learner ? ' --learner' : ''}`, when: 'not _.present' },
            { ...list, bind: 'after' },
            { kind: 'derive', fn: 'initial_cluster_after_add', args: [ref('after.json'), name, peer], bind: 'initial_cluster' },
            { kind: 'derive', fn: 'member_id_by_peer', args: [ref('after.json'), peer], bind: 'id' },
          ],
          result: { initial_cluster: ref('initial_cluster'), id: ref('id'), learner },
        };
      }
      default:
        throw new Error(`unknown op ${op}`);
    }
  },
};

// ───────────── etcd_health ─────────────

export const etcd_health: ModuleDef = {
  name: 'etcd_health',
  schema: 'etcd_health',
  summary: 'endpoint health/status, wait until healthy, quorum preflight, prove members are down',
  readOnly: true,
  plan: (args, ctx) => {
    const op = str(args, 'op');
    const eps = endpoints(ctx, optStr(args, 'endpoints'));
    const f = ctx.inventory.facts;
    const health: Action = { kind: 'exec', cmd: `${ctl(ctx, eps, true)} endpoint health --write-out=json`, parse: 'json', probe: true, okCodes: [0, 1], bind: 'health' };
    const status: Action = { kind: 'exec', cmd: `${ctl(ctx, eps, true)} endpoint status --write-out=json`, parse: 'json', probe: true, okCodes: [0, 1], bind: 'raw' };
    switch (op) {
      case 'check':
        return { actions: [health, { kind: 'derive', fn: 'require_healthy', args: [ref('health.json')], bind: 'healthy' }], result: ref('healthy') };
      case 'report':
        // `runbook status`: the live member list joined with every member's status and health
        // (--cluster: members missing from the inventory show up too); unhealthy members are rows, not failures.
        return {
          actions: [
            { kind: 'exec', cmd: `${ctl(ctx, eps, true)} member list --write-out=json`, parse: 'json', probe: true, bind: 'list' },
            { ...status, cmd: `${ctl(ctx, eps, true)} endpoint status --cluster --write-out=json` },
            { ...health, cmd: `${ctl(ctx, eps, true)} endpoint health --cluster --write-out=json` },
            { kind: 'derive', fn: 'status_table', args: [ref('list.json'), ref('raw.json'), ref('health.json')], bind: 'table' },
          ],
          result: ref('table'),
        };
      case 'status':
        return { actions: [status, { kind: 'derive', fn: 'endpoint_status', args: [ref('raw.json')], bind: 'status' }], result: ref('status') };
      case 'wait': {
        const timeout = num(args, 'timeout', 120);
        const loop = `deadline=$(( $(date +%s) + ${timeout} )); until ${ctl(ctx, eps, true)} endpoint health >/dev/null 2>&1; do if [ "$(date +%s)" -ge "$deadline" ]; then ${ctl(ctx, eps, true)} endpoint health >&2; echo ${q(`not healthy after ${timeout}s`)} >&2; exit 1; fi; sleep 1; done`;
        const actions: Action[] = [{ kind: 'wait', what: `all of ${eps} healthy`, timeoutSec: timeout, cmd: `bash -c ${q(loop)}` }];
        const expect = optStr(args, 'expect_members');
        if (expect !== undefined) {
          actions.push({ kind: 'exec', cmd: `${ctl(ctx, eps, true)} member list --write-out=json`, parse: 'json', probe: true, bind: 'list' });
          actions.push({ kind: 'derive', fn: 'require_members', args: [ref('list.json'), expect], bind: 'members' });
        }
        actions.push(status, { kind: 'derive', fn: 'endpoint_status', args: [ref('raw.json')], bind: 'status' }, { kind: 'derive', fn: 'require_one_cluster', args: [ref('raw.json')], bind: 'cluster' });
        return { actions, result: ref('status') };
      }
      case 'preflight': {
        // Quorum math on the live membership before a change: refuse when it would lose quorum.
        const remove = optStr(args, 'remove');
        return {
          actions: [
            { kind: 'exec', cmd: `${ctl(ctx, eps, true)} member list --write-out=json`, parse: 'json', probe: true, bind: 'list' },
            { ...health, cmd: `${ctl(ctx, eps, true)} endpoint health --cluster --write-out=json` },
            { kind: 'derive', fn: 'quorum_preflight_live', args: [ref('list.json'), ref('health.json'), remove ?? null], bind: 'verdict' },
          ],
          result: ref('verdict'),
        };
      }
      case 'lost':
        // restore-all only runs when quorum is really lost.
        return { actions: [{ ...health, cmd: listeningOnly(ctx, eps, 'endpoint health --write-out=json') }, { kind: 'derive', fn: 'require_no_quorum', args: [ref('health.json'), f.size], bind: 'verdict' }], result: ref('verdict') };
      case 'down':
        // force-new-cluster is only safe when no other member runs: a member without quorum is
        // unhealthy but alive and still answers `endpoint status`, so status is the test.
        return { actions: [{ ...status, cmd: listeningOnly(ctx, eps, 'endpoint status --write-out=json') }, { kind: 'derive', fn: 'require_down', args: [ref('raw.json')], bind: 'down' }], result: ref('down') };
      case 'data': {
        const self = selfEndpoint(ctx);
        return {
          actions: [
            { kind: 'exec', cmd: `${ctl(ctx, self, true)} get '' --prefix --keys-only --limit=1 --write-out=json`, parse: 'json', probe: true, bind: 'count' },
            { ...status, cmd: `${ctl(ctx, self, true)} endpoint status --write-out=json` },
            { kind: 'derive', fn: 'require_data', args: [ref('count.json'), ref('raw.json'), (args.manifest ?? null), num(args, 'bump_revision', f.supportsBumpRevision ? ctx.inventory.cluster.bumpRevision : 0)], bind: 'data' },
          ],
          result: ref('data'),
        };
      }
      default:
        throw new Error(`unknown op ${op}`);
    }
  },
};

// ───────────── etcd_maintenance ─────────────

export const etcd_maintenance: ModuleDef = {
  name: 'etcd_maintenance',
  schema: 'etcd_maintenance',
  summary: 'compact at the current revision, defrag one member, alarm list/disarm, prove a write',
  readOnly: (args) => args.op === 'alarm_list',
  plan: (args, ctx): ModulePlan => {
    const op = str(args, 'op');
    const self = selfEndpoint(ctx);
    const all = ctx.inventory.facts.endpoints;
    switch (op) {
      case 'compact':
        return {
          actions: [
            { kind: 'exec', cmd: `${ctl(ctx, self, true)} endpoint status --write-out=json`, parse: 'json', probe: true, bind: 'raw' },
            { kind: 'derive', fn: 'endpoint_status', args: [ref('raw.json')], bind: 'status' },
            // Nothing written since the last compaction: that revision is already compacted, which is the goal.
            { kind: 'exec', cmd: `out=$(${ctl(ctx, self)} compact ⟨_.status.0.revision⟩ --physical 2>&1); rc=$?; printf '%s\\n' "$out"; if [ $rc -ne 0 ]; then case "$out" in *'required revision has been compacted'*) echo 'already compacted at this revision';; *) exit $rc;; esac; fi` },
          ],
          result: ref('status.0.revision'),
        };
      case 'defrag':
        return {
          actions: [
            { kind: 'exec', cmd: `${ctl(ctx, self)} --command-timeout=${num(args, 'timeout', 120)}s defrag` },
            { kind: 'exec', cmd: `${ctl(ctx, self, true)} endpoint status --write-out=json`, parse: 'json', probe: true, bind: 'raw' },
            { kind: 'derive', fn: 'endpoint_status', args: [ref('raw.json')], bind: 'status' },
          ],
          result: ref('status.0'),
        };
      case 'defrag_all': {
        // Followers first, the leader last, health checked between members (one at a time).
        const f = ctx.inventory.facts;
        const actions: Action[] = [
          { kind: 'exec', cmd: `${ctl(ctx, all, true)} endpoint status --write-out=json`, parse: 'json', probe: true, bind: 'before' },
          { kind: 'derive', fn: 'defrag_order', args: [ref('before.json')], bind: 'order' },
        ];
        for (let i = 0; i < f.size; i++) {
          actions.push({ kind: 'exec', cmd: `${ctlRaw(ctx, `⟨_.order.${i}⟩`)} --command-timeout=${num(args, 'timeout', 120)}s defrag`, note: i === f.size - 1 ? 'the leader goes last' : `member ${i + 1} of ${f.size} in follower-first order` });
          // Parsed, not the exit code: etcd 3.5 fails `endpoint health` on a NOSPACE alarm (facts.ts healthyDespiteAlarms).
          actions.push(
            {
              kind: 'exec',
              cmd: `${ctl(ctx, all, true)} endpoint health --write-out=json`,
              parse: 'json',
              probe: true,
              okCodes: [0, 1],
              bind: 'between',
              note: 'every member healthy before the next',
            },
            { kind: 'derive', fn: 'require_healthy', args: [ref('between.json')], bind: 'between_ok' },
          );
        }
        actions.push(
          { kind: 'exec', cmd: `${ctl(ctx, all, true)} endpoint status --write-out=json`, parse: 'json', probe: true, bind: 'after' },
          { kind: 'derive', fn: 'size_report', args: [ref('before.json'), ref('after.json')], bind: 'report' },
        );
        return { actions, result: { order: ref('order'), report: ref('report'), before: ref('before.json'), after: ref('after.json') } };
      }
      case 'alarm_list':
        return {
          actions: [
            { kind: 'exec', cmd: `${ctl(ctx, all, true)} alarm list --write-out=json`, parse: 'json', probe: true, bind: 'raw' },
            { kind: 'derive', fn: 'alarms', args: [ref('raw.json')], bind: 'alarms' },
            { kind: 'derive', fn: 'has_alarm', args: [ref('alarms'), 'NOSPACE'], bind: 'nospace' },
          ],
          result: { alarms: ref('alarms'), nospace: ref('nospace') },
        };
      case 'alarm_disarm':
        return { actions: [{ kind: 'exec', cmd: `${ctl(ctx, all)} alarm disarm` }] };
      case 'write_probe': {
        const key = `/runbook/probe/${RUN_ID}`;
        return {
          actions: [
            { kind: 'exec', cmd: `${ctl(ctx, all)} put ${q(key)} ${q(`written by runbook run ${RUN_ID}`)}` },
            { kind: 'exec', cmd: `${ctl(ctx, all, true)} get ${q(key)} --print-value-only | grep -q . && ${ctl(ctx, all)} del ${q(key)}`, note: 'read it back, then delete the probe key' },
          ],
        };
      }
      default:
        throw new Error(`unknown op ${op}`);
    }
  },
};

// ───────────── etcd_service ─────────────

/** /etc/kubernetes for /etc/kubernetes/manifests/etcd.yaml: parked files must live outside manifests/. */
function manifestParent(manifest: string): string {
  const dir = manifest.slice(0, manifest.lastIndexOf('/'));
  return dir.slice(0, dir.lastIndexOf('/')) || '/';
}

function stoppedManifest(ctx: PlanCtx): string {
  const m = ctx.inventory.cluster.manifestFile;
  return `${manifestParent(m)}/manifests-stopped-by-runbook/${m.slice(m.lastIndexOf('/') + 1)}`;
}

function portClosed(url: string, timeout: number): string {
  const hp = /^https?:\/\/(.+):(\d+)$/.exec(url);
  const test = `(exec 3<>/dev/tcp/${hp?.[1] ?? '127.0.0.1'}/${hp?.[2] ?? '2379'}) 2>/dev/null`;
  return `bash -c ${q(`deadline=$(( $(date +%s) + ${timeout} )); while ${test}; do if [ "$(date +%s)" -ge "$deadline" ]; then echo 'etcd still listening on ${url}' >&2; exit 1; fi; sleep 0.5; done`)}`;
}

/**
 * Wait until kubelet has stopped a static pod whose manifest left manifests/: its container no
 * longer runs (`crictl ps` lists running containers only; the container is named like its
 * manifest in kubeadm's pods) and none of `urls` accepts connections. Moving the manifest only
 * asks kubelet, which notices on its next file check (20 s by default) and then stops the
 * container with a grace period: until then the process still runs and still writes.
 */
function podGone(container: string, urls: string[], timeout: number): string {
  const open = urls.map((u) => {
    const hp = /^https?:\/\/(.+):(\d+)$/.exec(u);
    return `(exec 3<>/dev/tcp/${hp?.[1] ?? '127.0.0.1'}/${hp?.[2] ?? '2379'}) 2>/dev/null`;
  });
  const name = `^${container}$`;
  const script = [
    `command -v crictl >/dev/null || { echo 'crictl not found: cannot tell whether the ${container} container is gone' >&2; exit 1; }`,
    `deadline=$(( $(date +%s) + ${timeout} ))`,
    `while :; do ids=$(crictl ps -q --name '${name}') || { echo 'crictl ps failed' >&2; exit 1; }`,
    `if [ -z "$ids" ]${open.map((o) => ` && ! ${o}`).join('')}; then exit 0; fi`,
    `if [ "$(date +%s)" -ge "$deadline" ]; then echo ${q(`${container} still running or listening after ${timeout}s${urls.length > 0 ? ` (${urls.join(', ')})` : ''}`)} >&2; exit 1; fi`,
    'sleep 0.5; done',
  ].join('; ');
  return `bash -c ${q(script)}`;
}

export const etcd_service: ModuleDef = {
  name: 'etcd_service',
  schema: 'etcd_service',
  summary: 'stop/start/restart etcd for the deployment mode (systemd unit or kubeadm static pod), optionally once with --force-new-cluster',
  readOnly: false,
  plan: (args, ctx) => {
    const state = str(args, 'state');
    const c = ctx.inventory.cluster;
    const fnc = bool(args, 'force_new_cluster');
    // A host outside group etcd (a machine being retired) still runs etcd at its own address.
    const url = ctx.host.etcd?.clientUrl ?? `${c.scheme}://${ctx.host.address}:${c.clientPort}`;
    const peerUrl = ctx.host.etcd?.peerUrl ?? `${c.scheme}://${ctx.host.address}:${c.peerPort}`;
    const actions: Action[] = [];
    if (c.deployment === 'systemd') {
      const conf = q(c.configFile);
      if (state === 'stopped' || state === 'restarted') {
        actions.push({ kind: 'exec', cmd: 'systemctl stop etcd' }, { kind: 'exec', cmd: `! systemctl is-active --quiet etcd && ${portClosed(url, 30)}`, probe: true, note: 'verify it is stopped' });
      }
      if (state === 'started' || state === 'restarted') {
        if (fnc) {
          // Set the flag in the env file (etcd 3.4 exits if a setting is both ETCD_X and --x), start once, remove it.
          actions.push({ kind: 'exec', cmd: `sed -i '/^ETCD_FORCE_NEW_CLUSTER=/d' ${conf} && echo ETCD_FORCE_NEW_CLUSTER=true >> ${conf}` });
          actions.push({ kind: 'exec', cmd: `systemctl start etcd; rc=$?; sed -i '/^ETCD_FORCE_NEW_CLUSTER=/d' ${conf}; exit $rc`, note: 'start once with --force-new-cluster, then drop the flag' });
        } else {
          // A normal start never carries a force flag left by an interrupted earlier run.
          actions.push({ kind: 'exec', cmd: `if [ -e ${conf} ]; then sed -i '/^ETCD_FORCE_NEW_CLUSTER=/d' ${conf}; fi && systemctl start etcd` });
        }
      }
    } else {
      const manifest = c.manifestFile;
      const parked = stoppedManifest(ctx);
      if (state === 'stopped' || state === 'restarted') {
        actions.push({ kind: 'exec', cmd: `if [ -e ${q(manifest)} ]; then mkdir -p ${q(parked.slice(0, parked.lastIndexOf('/')))} && mv -n ${q(manifest)} ${q(parked)}; fi && test ! -e ${q(manifest)}`, note: 'kubelet stops the static pod when its manifest leaves manifests/' });
        const urls = [url, peerUrl];
        actions.push({ kind: 'wait', what: `the etcd container is gone and ${urls.join(', ')} are closed`, timeoutSec: 120, cmd: podGone('etcd', urls, 120) });
      }
      if (state === 'started' || state === 'restarted') {
        // A normal start always strips a --force-new-cluster left from an earlier forced start.
        actions.push(
          fnc
            ? { kind: 'exec', cmd: `sed -i 's/^\\([[:space:]]*\\)- etcd$/&\\n\\1- --force-new-cluster/' ${q(parked)}`, note: 'add --force-new-cluster to the parked manifest' }
            : { kind: 'exec', cmd: `if [ -e ${q(parked)} ]; then sed -i '/^[[:space:]]*- --force-new-cluster$/d' ${q(parked)}; fi` },
        );
        actions.push({ kind: 'exec', cmd: `test -e ${q(manifest)} || mv -n ${q(parked)} ${q(manifest)}` });
      }
    }
    return { actions };
  },
};

// ───────────── etcd_config ─────────────

/** The etcd.conf keys runbook manages for a member, in file order. */
export function etcdConfLines(ctx: PlanCtx, state: string, initialCluster: string, token: string): string[] {
  const m = ctx.host.etcd;
  if (!m) throw new Error(`${ctx.host.name} is not an etcd member`);
  const listen = (u: string): string => u;
  const lines = [
    `ETCD_NAME=${m.name}`,
    `ETCD_DATA_DIR=${m.dataDir}`,
    `ETCD_LISTEN_PEER_URLS=${listen(m.peerUrl)}`,
    `ETCD_LISTEN_CLIENT_URLS=${listen(m.clientUrl)}`,
    `ETCD_ADVERTISE_CLIENT_URLS=${m.clientUrl}`,
    `ETCD_INITIAL_ADVERTISE_PEER_URLS=${m.peerUrl}`,
    `ETCD_INITIAL_CLUSTER=${initialCluster}`,
    `ETCD_INITIAL_CLUSTER_STATE=${state}`,
    `ETCD_INITIAL_CLUSTER_TOKEN=${token}`,
  ];
  const t = ctx.inventory.cluster.tls;
  if (t) {
    lines.push(
      `ETCD_TRUSTED_CA_FILE=${t.ca}`,
      `ETCD_CERT_FILE=${t.serverCert ?? t.cert}`,
      `ETCD_KEY_FILE=${t.serverKey ?? t.key}`,
      'ETCD_CLIENT_CERT_AUTH=true',
      `ETCD_PEER_TRUSTED_CA_FILE=${t.peerCa ?? t.ca}`,
      `ETCD_PEER_CERT_FILE=${t.peerCert ?? t.serverCert ?? t.cert}`,
      `ETCD_PEER_KEY_FILE=${t.peerKey ?? t.serverKey ?? t.key}`,
      'ETCD_PEER_CLIENT_CERT_AUTH=true',
    );
  }
  return lines;
}

export const etcd_config: ModuleDef = {
  name: 'etcd_config',
  schema: 'etcd_config',
  summary: "write this member's etcd.conf (systemd) or set the membership flags in its static-pod manifest",
  readOnly: false,
  plan: (args, ctx) => {
    const c = ctx.inventory.cluster;
    const state = str(args, 'state', 'existing');
    const ic = str(args, 'initial_cluster', ctx.inventory.facts.initialCluster);
    const token = str(args, 'token', c.token);
    const extra = (args.extra ?? {}) as JsonObject;
    if (c.deployment === 'systemd' && bool(args, 'membership_only')) {
      // Existing members keep every other setting (quotas, tuning): only the membership keys change.
      const conf = q(c.configFile);
      const set = (key: string, value: string): string => `{ grep -q '^${key}=' ${conf} && sed -i 's|^${key}=.*$|${key}=${value.replace(/[|&\\]/g, '\\$&')}|' ${conf} || echo ${q(`${key}=${value}`)} >> ${conf}; }`;
      return {
        actions: [
          { kind: 'exec', cmd: `cp -p ${conf} ${q(`${c.configFile}.bak-${RUN_STAMP}`)}`, note: 'keep the previous config' },
          { kind: 'exec', cmd: `${set('ETCD_INITIAL_CLUSTER', ic)} && ${set('ETCD_INITIAL_CLUSTER_STATE', state)}` },
        ],
      };
    }
    if (c.deployment === 'systemd') {
      const lines = etcdConfLines(ctx, state, ic, token);
      for (const k of Object.keys(extra).sort()) lines.push(`${k}=${jsonText(extra[k])}`);
      const conf = c.configFile;
      return {
        actions: [
          { kind: 'exec', cmd: `mkdir -p ${q(conf.slice(0, conf.lastIndexOf('/')))} && if [ -e ${q(conf)} ]; then cp -p ${q(conf)} ${q(`${conf}.bak-${RUN_STAMP}`)}; fi`, note: 'keep the previous config' },
          { kind: 'put', dest: conf, mode: '0644', content: `${lines.join('\n')}\n` },
        ],
      };
    }
    // The manifest is parked (etcd stopped) or live: edit it where it is. With membership_only, a
    // live one is left alone: kubelet restarts a static pod on any manifest change, which would
    // restart every other member at once (quorum lost for a moment), and etcd reads
    // --initial-cluster* only while its data dir is empty, so a running member does not need them.
    const live = bool(args, 'membership_only')
      ? `if [ -e ${q(c.manifestFile)} ]; then echo ${q('etcd runs from its manifest: left unchanged (a change would restart the pod)')}; exit 0; fi`
      : `[ -e "$m" ] || `;
    const man = bool(args, 'membership_only') ? `${live}; m=${q(stoppedManifest(ctx))}` : `m=${q(c.manifestFile)}; ${live}m=${q(stoppedManifest(ctx))}`;
    const backupDir = `${manifestParent(c.manifestFile)}/runbook-backups`;
    // Replace the flag's line, or add it below `- etcd` (kubeadm's first member has no --initial-cluster-state).
    const set = (flag: string, value: string): string => {
      const v = value.replace(/[|&\\]/g, '\\$&');
      const replace = `sed -i 's|^\\([[:space:]]*- --${flag}=\\).*$|\\1${v}|' "$m"`;
      const add = `sed -i 's|^\\([[:space:]]*\\)- etcd$|&\\n\\1- --${flag}=${v}|' "$m"`;
      return `if grep -q '^[[:space:]]*- --${flag}=' "$m"; then ${replace}; else ${add}; fi`;
    };
    return {
      actions: [
        // Backups go outside manifests/: kubelet would start a second pod from any copy left there.
        {
          kind: 'exec',
          cmd: `${man}; mkdir -p ${q(backupDir)} && cp -p "$m" ${q(`${backupDir}/etcd.yaml.bak-${RUN_STAMP}`)}`,
          note: 'keep the previous manifest',
        },
        { kind: 'exec', cmd: `${man}; ${set('initial-cluster', ic)} && ${set('initial-cluster-state', state)}` },
      ],
    };
  },
};

// ───────────── dependents ─────────────

/** Services that depend on etcd (from the inventory's cluster.dependents) on this host. */
export const dependents: ModuleDef = {
  name: 'dependents',
  schema: 'dependents',
  summary: "stop or start the services that depend on etcd on this host (systemd units, or kubeadm static pods as manifest:NAME)",
  readOnly: false,
  plan: (args, ctx) => {
    const state = str(args, 'state');
    const c = ctx.inventory.cluster;
    const services = c.dependents.filter((d) => ctx.host.groups.includes(d.group)).flatMap((d) => d.services);
    const manifests = `${c.manifestFile.slice(0, c.manifestFile.lastIndexOf('/'))}`;
    const parked = `${manifestParent(c.manifestFile)}/manifests-stopped-by-runbook`;
    const actions: Action[] = [];
    for (const s of [...new Set(services)]) {
      if (s.startsWith('manifest:')) {
        const name = s.slice('manifest:'.length);
        const live = q(`${manifests}/${name}.yaml`);
        const away = q(`${parked}/${name}.yaml`);
        if (state === 'stopped') {
          actions.push(
            { kind: 'exec', cmd: `if [ -e ${live} ]; then mkdir -p ${q(parked)} && mv -n ${live} ${away}; fi` },
            { kind: 'wait', what: `the ${name} container is gone`, timeoutSec: 120, cmd: podGone(name, [], 120) },
          );
        } else actions.push({ kind: 'exec', cmd: `if [ -e ${away} ]; then mv -n ${away} ${live}; fi` });
      } else if (state === 'stopped') {
        actions.push({ kind: 'exec', cmd: `systemctl stop ${q(s)} && ! systemctl is-active --quiet ${q(s)}` });
      } else actions.push({ kind: 'exec', cmd: `systemctl start ${q(s)}` });
    }
    return { actions };
  },
};
