// etcd_upgrade: the steps of a rolling upgrade (upgrade.yml). The operator's binaries are bundled on
// the controller with a SHA256SUMS list, copied to each member (hash checked on arrival and after
// unpacking) and read there with `etcd --version`; the decisions (one minor at a time, minimums,
// whose turn, rollback possible?) are pure functions in derive-upgrade.ts. Installed binaries are
// kept aside per version (<dir>/etcd-<version>/, never deleted) before new ones replace them; in
// static-pod mode the etcd image in the manifest changes instead (the old one kept the same way).
import type { Action, JsonObject } from '../../model/types.js';
import { bashScript, sh } from '../../shell/sh.js';
import { exec, local, opsModule, optStr, str, RUN_ID, RUN_STAMP, type ModulePlan, type PlanCtx } from '../module.js';
import { endpointStatus, manifestParent, ref, selfEndpoint } from './common.js';

/** Where binaries are kept on a member: staged-<run id>/ (the new ones) and etcd-<version>/ (each one replaced). */
const KEEP_DIR = '/var/lib/runbook/etcd-binaries';
const keepDir = (args: JsonObject): string => str(args, 'dir', KEEP_DIR);
const binDir = (args: JsonObject): string => str(args, 'bin_dir', '/usr/bin');
const staged = (args: JsonObject): string => `${keepDir(args)}/staged-${RUN_ID}`;

/** The cluster's /version ({"etcdserver","etcdcluster"}) from this member, with the cluster's client certificate. */
function clusterVersion(ctx: PlanCtx): Action {
  const t = ctx.inventory.cluster.tls;
  const url = `${selfEndpoint(ctx)}/version`;
  const cmd = t ? sh`curl -sS --fail --max-time 5 --cacert ${t.ca} --cert ${t.cert} --key ${t.key} ${url}` : sh`curl -sS --fail --max-time 5 ${url}`;
  return exec(cmd, { parse: 'json', probe: true, bind: 'version' });
}

const status = (ctx: PlanCtx, eps: string): Action => endpointStatus(ctx, eps, { bind: 'raw', strict: true });

// Controller: a tarball (a release's etcd-vX-linux-ARCH.tar.gz, unpacked into the scratch dir) or a
// directory → bundle.tar holding etcd, etcdctl (and etcdutl when offered) and their SHA256SUMS; prints
// the bundle's sha256. The binaries are read where they are: the only copy is the bundle.
const BUNDLE = sh`src=$1; out=$2; umask 077
case "$out" in /*) ;; *) out=$PWD/$out;; esac
if [ -e "$out" ]; then mv -n "$out" "$out.bak-$(date -u +%Y%m%dT%H%M%SZ)" || exit 1; fi
mkdir -p "$out/unpacked" || exit 1
if [ -d "$src" ]; then d=$src
elif [ -f "$src" ]; then tar -xf "$src" -C "$out/unpacked" --no-same-owner || exit 1
  e=$(find "$out/unpacked" -maxdepth 3 -type f -name etcd | head -n 1); d=\${e%/etcd}
else echo "no such file or directory: $src" >&2; exit 1; fi
if [ -z "$d" ] || [ ! -f "$d/etcd" ] || [ ! -f "$d/etcdctl" ]; then echo "$src holds no etcd and etcdctl binaries" >&2; exit 1; fi
files="etcd etcdctl"; if [ -f "$d/etcdutl" ]; then files="$files etcdutl"; fi
(cd "$d" && sha256sum $files) > "$out/SHA256SUMS" || exit 1
tar -cf "$out/bundle.tar" --owner=0 --group=0 --mode=0755 -C "$d" $files -C "$out" SHA256SUMS || exit 1
sha256sum "$out/bundle.tar" | cut -d" " -f1`;

// Member: keep the installed binaries aside as etcd-<their version>/ (once per version: an equal copy
// stays, a different one is moved aside first), then put the new ones in place by rename (a running
// etcd keeps its open file; the restart picks up the new one).
const INSTALL = sh`src=$1; bin=$2; root=$3; stamp=$4
if [ ! -f "$src/etcd" ] || [ ! -f "$src/SHA256SUMS" ]; then echo "no etcd binaries in $src" >&2; exit 1; fi
(cd "$src" && sha256sum --check --strict --quiet SHA256SUMS) || { echo "$src: binaries do not match their SHA256SUMS" >&2; exit 1; }
old=$("$bin/etcd" --version | sed -n "s/^etcd Version: //p")
case "$old" in [0-9]*.[0-9]*.[0-9]*) ;; *) echo "cannot read the version of $bin/etcd" >&2; exit 1;; esac
keep="$root/etcd-$old"
if [ -e "$keep" ] && ! cmp -s "$keep/etcd" "$bin/etcd"; then mv -n "$keep" "$keep.bak-$stamp" || exit 1; fi
if [ ! -e "$keep" ]; then
  mkdir -p "$keep.part-$stamp" || exit 1
  for f in etcd etcdctl etcdutl; do if [ -f "$bin/$f" ]; then cp -p "$bin/$f" "$keep.part-$stamp/$f" || exit 1; fi; done
  (cd "$keep.part-$stamp" && sha256sum etcd* > SHA256SUMS) && mv -T -n "$keep.part-$stamp" "$keep" || exit 1
fi
for f in etcd etcdctl etcdutl; do
  if [ -f "$src/$f" ]; then install -m 0755 "$src/$f" "$bin/.$f.runbook-new" && mv -f "$bin/.$f.runbook-new" "$bin/$f" || exit 1; fi
done
new=$("$bin/etcd" --version | sed -n "s/^etcd Version: //p")
echo "installed etcd $new in $bin (etcd $old kept in $keep)"`;

// Static pod: the same for the image line of the etcd manifest (kubelet restarts the pod when it changes).
const SET_IMAGE = sh`src=$1; m=$2; root=$3; stamp=$4; backups=$5
image=$(cat "$src/image") || exit 1
case "$image" in *[!A-Za-z0-9._/:-]*|"") echo "$src/image: not an image name" >&2; exit 1;; esac
if [ ! -f "$m" ]; then echo "$m not found: etcd is not running from its manifest" >&2; exit 1; fi
cur=$(sed -n "s/^[[:space:]]*image:[[:space:]]*\\(.*etcd:.*\\)$/\\1/p" "$m" | head -n 1)
old=$(printf "%s\\n" "$cur" | sed -n "s/.*etcd:v\\{0,1\\}\\([0-9][0-9]*\\.[0-9][0-9]*\\.[0-9][0-9]*\\).*/\\1/p")
if [ -z "$old" ]; then echo "$m: no etcd image with a version found" >&2; exit 1; fi
keep="$root/etcd-$old"
if [ -e "$keep" ] && [ "$(cat "$keep/image" 2>/dev/null)" != "$cur" ]; then mv -n "$keep" "$keep.bak-$stamp" || exit 1; fi
if [ ! -e "$keep" ]; then mkdir -p "$keep" && printf "%s\\n" "$cur" > "$keep/image" || exit 1; fi
mkdir -p "$backups" && cp -p "$m" "$backups/etcd.yaml.bak-$stamp" || exit 1
if [ "$cur" != "$image" ]; then sed -i "s|^\\([[:space:]]*image:[[:space:]]*\\).*etcd:.*$|\\1$image|" "$m" || exit 1; fi
grep -q "^[[:space:]]*image:[[:space:]]*$image\\$" "$m" || { echo "$m: image not set to $image" >&2; exit 1; }
echo "etcd image $image in $m ($cur kept in $keep)"`;

function bundle(args: JsonObject): ModulePlan {
  const out = str(args, 'dir', `.runbook/upgrade-${RUN_ID}`);
  return {
    actions: [local(bashScript(BUNDLE, 'upgrade-bundle', str(args, 'src'), out), { bind: 'sha' })],
    result: { sha256: ref('sha.stdout'), path: `${out}/bundle.tar` },
  };
}

function stage(args: JsonObject, ctx: PlanCtx): ModulePlan {
  const dir = staged(args);
  const actions: Action[] = [exec(sh`mkdir -p -m 0700 ${dir}`)];
  if (ctx.inventory.cluster.deployment === 'static-pod') {
    const image = str(args, 'image');
    const m = ctx.inventory.cluster.manifestFile;
    actions.push(
      { kind: 'put', dest: `${dir}/image`, mode: '0600', content: `${image}\n` },
      { kind: 'derive', fn: 'version_from_image', args: [image], bind: 'offered' },
      exec(sh`sed -n 's/^[[:space:]]*image:[[:space:]]*\\(.*etcd:.*\\)$/\\1/p' ${m} | head -n 1`, { probe: true, bind: 'current' }),
      { kind: 'derive', fn: 'version_from_image', args: [ref('current.stdout')], bind: 'installed' },
    );
    return { actions, result: { offered: ref('offered'), installed: ref('installed') } };
  }
  const tar = `${dir}/bundle.tar`;
  actions.push(
    // The transport hashes the copy as it is written and refuses a mismatch; SHA256SUMS then checks each file.
    { kind: 'put', src: str(args, 'bundle'), dest: tar, mode: '0600', sha256: str(args, 'sha256') },
    exec(sh`tar -xf ${tar} -C ${dir} --no-same-owner && cd ${dir} && sha256sum --check --strict SHA256SUMS`, {
      note: 'unpack; every binary against SHA256SUMS',
    }),
    exec(sh`${`${dir}/etcd`} --version`, { probe: true, bind: 'offered_out', note: 'the version the offered binaries report, read on this member' }),
    { kind: 'derive', fn: 'version_from_text', args: [ref('offered_out.stdout')], bind: 'offered' },
    exec(sh`${`${binDir(args)}/etcd`} --version`, { probe: true, bind: 'installed_out' }),
    { kind: 'derive', fn: 'version_from_text', args: [ref('installed_out.stdout')], bind: 'installed' },
    // The binary to be replaced is the one that runs: bin_dir is where the unit runs etcd from.
    status(ctx, selfEndpoint(ctx)),
    { kind: 'derive', fn: 'require_installed_runs', args: [ref('raw.json'), ref('installed'), `${binDir(args)}/etcd`], bind: 'installed_runs' },
  );
  return { actions, result: { offered: ref('offered'), installed: ref('installed') } };
}

function install(args: JsonObject, ctx: PlanCtx): ModulePlan {
  // The new binaries (staged by this run) or, for a rollback, the kept ones of the version going back to.
  const version = optStr(args, 'version');
  const src = version === undefined ? staged(args) : `${keepDir(args)}/etcd-${version}`;
  const c = ctx.inventory.cluster;
  if (c.deployment === 'static-pod') {
    const backups = `${manifestParent(c.manifestFile)}/runbook-backups`;
    return {
      actions: [
        exec(bashScript(SET_IMAGE, 'upgrade-image', src, c.manifestFile, keepDir(args), RUN_STAMP, backups), {
          note: 'kubelet restarts the pod with the new image on its next manifest check',
        }),
      ],
    };
  }
  return { actions: [exec(bashScript(INSTALL, 'upgrade-install', src, binDir(args), keepDir(args), RUN_STAMP))] };
}

/**
 * Whose turn: round `followers` skips the leader while another member still waits (followers first,
 * the leader last); round `rest` takes every member not yet at the version (leadership may have moved).
 */
function turn(args: JsonObject, ctx: PlanCtx): ModulePlan {
  const fn = str(args, 'round', 'followers') === 'rest' ? 'upgrade_turn_any' : 'upgrade_turn';
  return {
    actions: [
      status(ctx, ctx.inventory.facts.endpoints),
      { kind: 'derive', fn, args: [ref('raw.json'), selfEndpoint(ctx), str(args, 'version')], bind: 'turn' },
    ],
    result: ref('turn'),
  };
}

function plan(args: JsonObject, ctx: PlanCtx): ModulePlan {
  const all = ctx.inventory.facts.endpoints;
  const offered = optStr(args, 'offered');
  const derive: Action =
    offered === undefined
      ? { kind: 'derive', fn: 'rollback_plan', args: [ref('raw.json'), ref('version.json')], bind: 'plan' }
      : { kind: 'derive', fn: 'upgrade_preflight', args: [ref('raw.json'), ref('version.json'), offered], bind: 'plan' };
  return { actions: [status(ctx, all), clusterVersion(ctx), derive], result: ref('plan') };
}

export const etcd_upgrade = opsModule({
  name: 'etcd_upgrade',
  schema: 'etcd_upgrade',
  summary: 'rolling upgrade steps: bundle and stage binaries (sha256), version preflight, whose turn, install (old kept), version checks',
  ops: {
    bundle: { readOnly: false, plan: bundle, intent: () => 'bundle the offered etcd binaries on the controller with their SHA256SUMS' },
    stage: {
      readOnly: false,
      plan: stage,
      intent: () => 'copy the bundle to this member (sha256 checked), unpack it and read the offered etcd --version there',
    },
    // With `offered`: may the cluster move to it? Without: a rollback plan (refused unless mixed).
    plan: {
      readOnly: true,
      plan: plan,
      intent: (a) =>
        optStr(a, 'offered') !== undefined
          ? 'refuse unless every member may move to the offered version (one minor at a time, production minimums)'
          : 'refuse a rollback unless the cluster is mixed (some members still on the old version)',
    },
    turn: { readOnly: true, plan: turn, intent: () => "wait for this member's turn: followers first, the leader last" },
    install: { readOnly: false, plan: install, intent: () => 'keep the installed binaries (or image) aside, put the new ones in place and restart etcd' },
    version: {
      readOnly: true,
      intent: (a) => `refuse unless this member answers with server version ${str(a, 'version')}`,
      plan: (args, ctx) => ({
        actions: [status(ctx, selfEndpoint(ctx)), { kind: 'derive', fn: 'require_version', args: [ref('raw.json'), str(args, 'version')], bind: 'version' }],
        result: ref('version'),
      }),
    },
    cluster_version: {
      readOnly: true,
      intent: (a) => `refuse unless every member runs ${str(a, 'version')} and the cluster version moved to its minor`,
      plan: (args, ctx) => ({
        actions: [
          status(ctx, ctx.inventory.facts.endpoints),
          clusterVersion(ctx),
          { kind: 'derive', fn: 'require_cluster_version', args: [ref('raw.json'), ref('version.json'), str(args, 'version')], bind: 'cluster' },
        ],
        result: ref('cluster'),
      }),
    },
  },
});
