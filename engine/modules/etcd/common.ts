// What the etcd modules share: endpoint lists from the inventory, the etcdctl invocation, and
// small waits. Every command is built with sh`…` (engine/shell/sh.ts): values are quoted by construction.
import { hostTls } from '../../inventory/tls.js';
import type { Action } from '../../model/types.js';
import { ArgError, exec, type ModulePlan, type PlanCtx } from '../module.js';
import { bashScript, joinSh, raw, sh, type ShellText } from '../../shell/sh.js';

export const ref = (name: string): string => `⟨!_.${name}⟩`;

export const nothing = raw('');

export function selfEndpoint(ctx: PlanCtx): string {
  return ctx.host.etcd?.clientUrl ?? ctx.inventory.facts.endpoints;
}

/**
 * `all`, `self`, or member names joined by ',' → client URLs. A name that is not a member of the
 * inventory is refused (compile reports it at the argument): it never reaches --endpoints= as text.
 */
export function endpoints(ctx: PlanCtx, which: string | undefined): string {
  if (which === undefined || which === 'all') return ctx.inventory.facts.endpoints;
  if (which === 'self') return selfEndpoint(ctx);
  const members = ctx.inventory.facts.members;
  return which
    .split(',')
    .map((n) => {
      const m = members.find((x) => x.name === n.trim());
      if (!m)
        throw new ArgError(
          'endpoints',
          `"${n.trim()}" is not a member of ${ctx.inventory.file}`,
          `endpoints takes all, self or member names joined by ',' (members: ${members.map((x) => x.name).join(', ')})`,
        );
      return m.clientUrl;
    })
    .join(',');
}

/** etcdctl with the cluster's API version and TLS flags (no endpoints). */
export function etcdctl(ctx: PlanCtx): ShellText {
  const f = ctx.inventory.facts;
  const t = hostTls(ctx.inventory, ctx.host);
  const api = f.needsApiEnv ? raw('ETCDCTL_API=3 ') : nothing;
  return t ? sh`${api}etcdctl --cacert=${t.ca} --cert=${t.cert} --key=${t.key}` : sh`${api}etcdctl`;
}

/** etcdctl against `eps` (client URLs, or a ⟨_.x⟩ placeholder quoted when filled); probes time out fast. */
export function ctl(ctx: PlanCtx, eps: string, probe = false): ShellText {
  return sh`${etcdctl(ctx)} --endpoints=${eps}${probe ? raw(' --dial-timeout=2s --command-timeout=5s') : nothing}`;
}

// The read-only etcdctl queries the modules share, each in one place. `endpoint health` and
// `endpoint status` exit 1 when some endpoint is down: the JSON still says which (a derive decides).
type Scope = { cluster?: boolean };
const scope = (o: Scope): ReturnType<typeof sh> => (o.cluster ? raw(' --cluster') : nothing);

/** `member list -w json` → _.list (or `bind`). */
export function memberList(ctx: PlanCtx, eps: string, bind = 'list'): Action {
  return exec(sh`${ctl(ctx, eps, true)} member list --write-out=json`, { parse: 'json', probe: true, bind });
}

/** `endpoint health -w json` → _.health. */
export function endpointHealth(ctx: PlanCtx, eps: string, o: Scope = {}): Action {
  return exec(sh`${ctl(ctx, eps, true)} endpoint health${scope(o)} --write-out=json`, { parse: 'json', probe: true, okCodes: [0, 1], bind: 'health' });
}

/** `endpoint status -w json` → _.raw (or `bind`); `strict`: any exit code but 0 fails the step. */
export function endpointStatus(ctx: PlanCtx, eps: string, o: Scope & { bind?: string; strict?: boolean } = {}): Action {
  return exec(sh`${ctl(ctx, eps, true)} endpoint status${scope(o)} --write-out=json`, {
    parse: 'json',
    probe: true,
    ...(o.strict ? {} : { okCodes: [0, 1] }),
    bind: o.bind ?? 'raw',
  });
}

/** The tool for `snapshot status|restore` (etcdutl from 3.5 on; it needs no endpoints or TLS). */
export function snapshotTool(ctx: PlanCtx): ShellText {
  const f = ctx.inventory.facts;
  if (f.snapshotTool === 'etcdutl') return raw('etcdutl');
  return f.needsApiEnv ? raw('ETCDCTL_API=3 etcdctl') : raw('etcdctl');
}

/**
 * Ask etcdctl only about members whose client port accepts a connection; with none, print [].
 * A stopped member refuses at once, while etcdctl would retry it until --command-timeout (5 s):
 * this is what makes "is quorum really lost?" fast when every member is down. A live member always
 * has its port open, so it is still asked (and a hung one still counts as unhealthy).
 */
export function listeningOnly(ctx: PlanCtx, eps: string, sub: ShellText): ShellText {
  // The script is the same for every cluster; the members come last as a normal --endpoints=
  // argument, so reviews and `runbook diff` see (and compare) them like any other endpoint list.
  const script = sh`open=; IFS=,; for u in \${1#--endpoints=}; do hp=\${u#*://}; if timeout 2 bash -c 'h=\${0%:*}; h=\${h#\\[}; exec 3<>"/dev/tcp/\${h%\\]}/\${0##*:}"' "$hp" 2>/dev/null; then open=\${open:+$open,}$u; fi; done; unset IFS; if [ -z "$open" ]; then echo '[]'; else ${etcdctl(ctx)} --endpoints="$open" --dial-timeout=2s --command-timeout=5s ${sub}; fi`;
  return bashScript(script, 'listening-only', `--endpoints=${eps}`);
}

/** /etc/kubernetes for /etc/kubernetes/manifests/etcd.yaml: parked files must live outside manifests/. */
export function manifestParent(manifest: string): string {
  const dir = manifest.slice(0, manifest.lastIndexOf('/'));
  return dir.slice(0, dir.lastIndexOf('/')) || '/';
}

export function stoppedManifest(ctx: PlanCtx): string {
  const m = ctx.inventory.cluster.manifestFile;
  return `${manifestParent(m)}/manifests-stopped-by-runbook/${m.slice(m.lastIndexOf('/') + 1)}`;
}

/** A URL's host as bash's /dev/tcp takes it: an IPv6 address without its brackets ([fd00::11] → fd00::11). */
const unbracket = (host: string): string => host.replace(/^\[(.*)\]$/, '$1');

/** Wait until nothing listens on the client URL's port any more. */
export function portClosed(url: string, timeout: number): ShellText {
  const hp = /^https?:\/\/(.+):(\d+)$/.exec(url);
  const host = unbracket(hp?.[1] ?? '127.0.0.1');
  const port = Number(hp?.[2] ?? '2379');
  return bashScript(
    sh`deadline=$(( $(date +%s) + ${timeout} )); while (exec 3<>/dev/tcp/${host}/${port}) 2>/dev/null; do if [ "$(date +%s)" -ge "$deadline" ]; then echo ${`etcd still listening on ${url}`} >&2; exit 1; fi; sleep 0.5; done`,
    'port-closed',
  );
}

/**
 * Wait until kubelet has stopped a static pod whose manifest left manifests/: its container no
 * longer runs (`crictl ps` lists running containers only; the container is named like its
 * manifest in kubeadm's pods) and none of `urls` accepts connections. Moving the manifest only
 * asks kubelet, which notices on its next file check (20 s by default) and then stops the
 * container with a grace period: until then the process still runs and still writes.
 */
export function podGone(container: string, urls: string[], timeout: number): ShellText {
  const open = urls.map((u) => {
    const hp = /^https?:\/\/(.+):(\d+)$/.exec(u);
    return sh` && ! (exec 3<>/dev/tcp/${unbracket(hp?.[1] ?? '127.0.0.1')}/${Number(hp?.[2] ?? '2379')}) 2>/dev/null`;
  });
  const gone = `${container} still running or listening after ${timeout}s${urls.length > 0 ? ` (${urls.join(', ')})` : ''}`;
  const missing = `crictl not found: cannot tell whether the ${container} container is gone`;
  const setup = sh`command -v crictl >/dev/null || { echo ${missing} >&2; exit 1; }; deadline=$(( $(date +%s) + ${timeout} ))`;
  const probe = sh`ids=$(crictl ps -q --name ${`^${container}$`}) || { echo 'crictl ps failed' >&2; exit 1; }`;
  const loop = sh`while :; do ${probe}; if [ -z "$ids" ]${joinSh(open, '')}; then exit 0; fi; if [ "$(date +%s)" -ge "$deadline" ]; then echo ${gone} >&2; exit 1; fi; sleep 0.5; done`;
  const script = sh`${setup}; ${loop}`;
  return bashScript(script, 'pod-gone');
}

export type { ModulePlan };
