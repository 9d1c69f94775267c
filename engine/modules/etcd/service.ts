// etcd_service: stop/start/restart etcd for the deployment mode (systemd unit or kubeadm static
// pod), optionally once with --force-new-cluster.
import type { Action } from '../../model/types.js';
import { sh } from '../../shell/sh.js';
import { bool, exec, str, waitFor, type ModuleDef } from '../module.js';
import { podGone, portClosed, stoppedManifest } from './common.js';

export const etcd_service: ModuleDef = {
  name: 'etcd_service',
  schema: 'etcd_service',
  summary: 'stop/start/restart etcd for the deployment mode (systemd unit or kubeadm static pod), optionally once with --force-new-cluster',
  readOnly: false,
  intent: (args, ctx) => {
    const how = ctx.inventory.cluster.deployment === 'systemd' ? 'systemd unit' : 'static pod';
    const verb = { stopped: 'stop', started: 'start', restarted: 'restart' }[str(args, 'state')] ?? str(args, 'state');
    const fnc = bool(args, 'force_new_cluster') ? ' once with --force-new-cluster' : '';
    if (verb === 'stop') return `etcd_service: stop etcd (${how}) and wait until it no longer listens`;
    return verb === 'restart'
      ? `etcd_service: stop etcd (${how}), wait until it no longer listens, start it${fnc}`
      : `etcd_service: ${verb} etcd (${how})${fnc}`;
  },
  plan: (args, ctx) => {
    const state = str(args, 'state');
    const c = ctx.inventory.cluster;
    const fnc = bool(args, 'force_new_cluster');
    // A host outside group etcd (a machine being retired) still runs etcd at its own address.
    const url = ctx.host.etcd?.clientUrl ?? `${c.scheme}://${ctx.host.address}:${c.clientPort}`;
    const peerUrl = ctx.host.etcd?.peerUrl ?? `${c.scheme}://${ctx.host.address}:${c.peerPort}`;
    const stopping = state === 'stopped' || state === 'restarted';
    const starting = state === 'started' || state === 'restarted';
    const actions: Action[] = [];
    if (c.deployment === 'systemd') {
      const conf = c.configFile;
      if (stopping) {
        actions.push(
          exec(sh`systemctl stop etcd`),
          exec(sh`! systemctl is-active --quiet etcd && ${portClosed(url, 30)}`, { probe: true, note: 'verify it is stopped' }),
        );
      }
      if (starting) {
        if (fnc) {
          // Set the flag in the env file (etcd 3.4 exits if a setting is both ETCD_X and --x), start once, remove it.
          actions.push(exec(sh`sed -i '/^ETCD_FORCE_NEW_CLUSTER=/d' ${conf} && echo ETCD_FORCE_NEW_CLUSTER=true >> ${conf}`));
          actions.push(
            exec(sh`systemctl start etcd; rc=$?; sed -i '/^ETCD_FORCE_NEW_CLUSTER=/d' ${conf}; exit $rc`, {
              note: 'start once with --force-new-cluster, then drop the flag',
            }),
          );
        } else {
          // A normal start never carries a force flag left by an interrupted earlier run.
          actions.push(exec(sh`if [ -e ${conf} ]; then sed -i '/^ETCD_FORCE_NEW_CLUSTER=/d' ${conf}; fi && systemctl start etcd`));
        }
      }
      return { actions };
    }
    const manifest = c.manifestFile;
    const parked = stoppedManifest(ctx);
    if (stopping) {
      actions.push(
        exec(sh`if [ -e ${manifest} ]; then mkdir -p ${parked.slice(0, parked.lastIndexOf('/'))} && mv -n ${manifest} ${parked}; fi && test ! -e ${manifest}`, {
          note: 'kubelet stops the static pod when its manifest leaves manifests/',
        }),
      );
      const urls = [url, peerUrl];
      actions.push(waitFor(`the etcd container is gone and ${urls.join(', ')} are closed`, 120, podGone('etcd', urls, 120)));
    }
    if (starting) {
      // A normal start always strips a --force-new-cluster left from an earlier forced start.
      actions.push(
        fnc
          ? exec(sh`sed -i 's/^\\([[:space:]]*\\)- etcd$/&\\n\\1- --force-new-cluster/' ${parked}`, { note: 'add --force-new-cluster to the parked manifest' })
          : exec(sh`if [ -e ${parked} ]; then sed -i '/^[[:space:]]*- --force-new-cluster$/d' ${parked}; fi`),
      );
      actions.push(exec(sh`test -e ${manifest} || mv -n ${parked} ${manifest}`));
    }
    return { actions };
  },
};
