// etcd_config: write this member's etcd.conf (systemd) or set the membership flags in its
// static-pod manifest.
import { hostTls } from '../../inventory/tls.js';
import { jsonText, type JsonObject } from '../../model/types.js';
import { joinSh, sh, type ShellText } from '../../shell/sh.js';
import { bool, exec, str, RUN_STAMP, type ModuleDef, type PlanCtx } from '../module.js';
import { manifestParent, nothing, stoppedManifest } from './common.js';

/** The etcd.conf keys runbook manages for a member, in file order. */
export function etcdConfLines(ctx: PlanCtx, state: string, initialCluster: string, token: string): string[] {
  const m = ctx.host.etcd;
  if (!m) throw new Error(`${ctx.host.name} is not an etcd member`);
  const lines = [
    `ETCD_NAME=${m.name}`,
    `ETCD_DATA_DIR=${m.dataDir}`,
    `ETCD_LISTEN_PEER_URLS=${m.peerUrl}`,
    `ETCD_LISTEN_CLIENT_URLS=${m.clientUrl}`,
    `ETCD_ADVERTISE_CLIENT_URLS=${m.clientUrl}`,
    `ETCD_INITIAL_ADVERTISE_PEER_URLS=${m.peerUrl}`,
    `ETCD_INITIAL_CLUSTER=${initialCluster}`,
    `ETCD_INITIAL_CLUSTER_STATE=${state}`,
    `ETCD_INITIAL_CLUSTER_TOKEN=${token}`,
  ];
  const t = hostTls(ctx.inventory, ctx.host);
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

/** The member's own URL settings, from the inventory (none unless `on`). */
function urlSettings(ctx: PlanCtx, on: boolean): [string, string][] {
  const m = ctx.host.etcd;
  if (!on) return [];
  if (!m) throw new Error(`${ctx.host.name} is not an etcd member`);
  return [
    ['ETCD_LISTEN_PEER_URLS', m.peerUrl],
    ['ETCD_INITIAL_ADVERTISE_PEER_URLS', m.peerUrl],
    ['ETCD_LISTEN_CLIENT_URLS', m.clientUrl],
    ['ETCD_ADVERTISE_CLIENT_URLS', m.clientUrl],
  ];
}

/** etcd.conf key → the static-pod manifest's flag. */
const FLAG: Record<string, string> = {
  ETCD_LISTEN_PEER_URLS: 'listen-peer-urls',
  ETCD_INITIAL_ADVERTISE_PEER_URLS: 'initial-advertise-peer-urls',
  ETCD_LISTEN_CLIENT_URLS: 'listen-client-urls',
  ETCD_ADVERTISE_CLIENT_URLS: 'advertise-client-urls',
};

/** kubeadm listens on https://127.0.0.1:2379 too (kube-apiserver's default): a manifest that did keeps it. */
function keepLoopback(url: string, set: (flag: string, value: string) => ShellText): ShellText {
  const loop = url.replace(/\/\/[^/]+:(\d+)$/, '//127.0.0.1:$1');
  const hasLoopback = `^[[:space:]]*- --listen-client-urls=.*//127\\.0\\.0\\.1:`;
  return sh`if grep -q ${hasLoopback} "$m"; then ${set('listen-client-urls', `${loop},${url}`)}; else ${set('listen-client-urls', url)}; fi`;
}

/** kubeadm's pod annotation naming the client URL (kubeadm reads etcd's endpoints from it): follows the member. */
function annotation(ctx: PlanCtx): ShellText {
  const url = sedEscape(ctx.host.etcd?.clientUrl ?? '');
  return sh`sed -i ${`s|^\\([[:space:]]*kubeadm\\.kubernetes\\.io/etcd\\.advertise-client-urls:\\).*$|\\1 ${url}|`} "$m"`;
}

/** A value inside a sed s|…|…| replacement: its own delimiter, & and \ escaped. */
const sedEscape = (value: string): string => value.replace(/[|&\\]/g, '\\$&');

export const etcd_config: ModuleDef = {
  name: 'etcd_config',
  schema: 'etcd_config',
  summary: "write this member's etcd.conf (systemd) or set the membership flags in its static-pod manifest",
  readOnly: false,
  intent: (args, ctx) => {
    const where = ctx.inventory.cluster.deployment === 'systemd' ? ctx.inventory.cluster.configFile : ctx.inventory.cluster.manifestFile;
    const what = bool(args, 'membership_only') ? 'set only the membership keys' : 'write the member config';
    return `etcd_config: ${what} in ${where}: initial-cluster-state ${str(args, 'state', 'existing')}, ${str(args, 'initial_cluster', ctx.inventory.facts.initialCluster)}`;
  },
  plan: (args, ctx) => {
    const c = ctx.inventory.cluster;
    const state = str(args, 'state', 'existing');
    // A run-time initial_cluster (from the live member list) was checked against the schema's
    // name=URL pattern by the step (compile's check_arg) before these commands: it cannot end the sed
    // expression or add a line to the config.
    const ic = str(args, 'initial_cluster', ctx.inventory.facts.initialCluster);
    const token = str(args, 'token', c.token);
    const extra = (args.extra ?? {}) as JsonObject;
    if (c.deployment === 'systemd' && bool(args, 'membership_only')) {
      // Existing members keep every other setting (quotas, tuning): only the membership keys change.
      const conf = c.configFile;
      const set = (key: string, value: string): ShellText =>
        sh`{ grep -q ${`^${key}=`} ${conf} && sed -i ${`s|^${key}=.*$|${key}=${sedEscape(value)}|`} ${conf} || echo ${`${key}=${value}`} >> ${conf}; }`;
      // urls (update-member): the member moved, so its own listen/advertise URLs follow the inventory.
      const moved = urlSettings(ctx, bool(args, 'urls')).map(([k, v]) => sh` && ${set(k, v)}`);
      return {
        actions: [
          exec(sh`cp -p ${conf} ${`${c.configFile}.bak-${RUN_STAMP}`}`, { note: 'keep the previous config' }),
          exec(sh`${set('ETCD_INITIAL_CLUSTER', ic)} && ${set('ETCD_INITIAL_CLUSTER_STATE', state)}${joinSh(moved, '')}`),
        ],
      };
    }
    if (c.deployment === 'systemd') {
      const lines = etcdConfLines(ctx, state, ic, token);
      for (const k of Object.keys(extra).sort()) lines.push(`${k}=${jsonText(extra[k])}`);
      const conf = c.configFile;
      return {
        actions: [
          exec(sh`mkdir -p ${conf.slice(0, conf.lastIndexOf('/'))} && if [ -e ${conf} ]; then cp -p ${conf} ${`${conf}.bak-${RUN_STAMP}`}; fi`, {
            note: 'keep the previous config',
          }),
          { kind: 'put', dest: conf, mode: '0644', content: `${lines.join('\n')}\n` },
        ],
      };
    }
    // The manifest is parked (etcd stopped) or live: edit it where it is. With membership_only, a
    // live one is left alone: kubelet restarts a static pod on any manifest change, which would
    // restart every other member at once (quorum lost for a moment), and etcd reads
    // --initial-cluster* only while its data dir is empty, so a running member does not need them.
    const liveNote = 'etcd runs from its manifest: left unchanged (a change would restart the pod)';
    // New URLs must reach the manifest: with urls, a live one is an error (update-member stops etcd first).
    const liveUrls = 'etcd runs from its manifest: stop it before its URLs change';
    const urls = urlSettings(ctx, bool(args, 'urls'));
    const man = !bool(args, 'membership_only')
      ? sh`m=${c.manifestFile}; [ -e "$m" ] || m=${stoppedManifest(ctx)}`
      : urls.length
        ? sh`if [ -e ${c.manifestFile} ]; then echo ${liveUrls} >&2; exit 1; fi; m=${stoppedManifest(ctx)}`
        : sh`if [ -e ${c.manifestFile} ]; then echo ${liveNote}; exit 0; fi; m=${stoppedManifest(ctx)}`;
    const backupDir = `${manifestParent(c.manifestFile)}/runbook-backups`;
    // Replace the flag's line, or add it below `- etcd` (kubeadm's first member has no --initial-cluster-state).
    const set = (flag: string, value: string): ShellText => {
      const v = sedEscape(value);
      const replace = `s|^\\([[:space:]]*- --${flag}=\\).*$|\\1${v}|`;
      const add = `s|^\\([[:space:]]*\\)- etcd$|&\\n\\1- --${flag}=${v}|`;
      return sh`if grep -q ${`^[[:space:]]*- --${flag}=`} "$m"; then sed -i ${replace} "$m"; else sed -i ${add} "$m"; fi`;
    };
    return {
      actions: [
        // Backups go outside manifests/: kubelet would start a second pod from any copy left there.
        exec(sh`${man}; mkdir -p ${backupDir} && cp -p "$m" ${`${backupDir}/etcd.yaml.bak-${RUN_STAMP}`}`, { note: 'keep the previous manifest' }),
        exec(
          sh`${man}; ${set('initial-cluster', ic)} && ${set('initial-cluster-state', state)}${joinSh(
            urls.map(([k, v]) => sh` && ${k === 'ETCD_LISTEN_CLIENT_URLS' ? keepLoopback(v, set) : set(FLAG[k] ?? k, v)}`),
            '',
          )}${urls.length ? sh` && ${annotation(ctx)}` : nothing}`,
        ),
      ],
    };
  },
};
