// dependents: stop or start the services that depend on etcd on this host (from the inventory's
// cluster.dependents): systemd units, or kubeadm static pods as manifest:NAME.
import type { Action } from '../../model/types.js';
import { sh } from '../../shell/sh.js';
import { exec, str, waitFor, type ModuleDef } from '../module.js';
import { manifestParent, podGone } from './common.js';

export const dependents: ModuleDef = {
  name: 'dependents',
  schema: 'dependents',
  summary: 'stop or start the services that depend on etcd on this host (systemd units, or kubeadm static pods as manifest:NAME)',
  readOnly: false,
  intent: (args, ctx) => {
    const mine = ctx.inventory.cluster.dependents.filter((d) => ctx.host.groups.includes(d.group)).flatMap((d) => d.services);
    return `dependents: ${str(args, 'state') === 'stopped' ? 'stop' : 'start'} ${mine.length ? mine.join(', ') : 'nothing (no dependent service on this host)'}`;
  },
  plan: (args, ctx) => {
    const state = str(args, 'state');
    const c = ctx.inventory.cluster;
    const services = c.dependents.filter((d) => ctx.host.groups.includes(d.group)).flatMap((d) => d.services);
    const manifests = c.manifestFile.slice(0, c.manifestFile.lastIndexOf('/'));
    const parked = `${manifestParent(c.manifestFile)}/manifests-stopped-by-runbook`;
    const actions: Action[] = [];
    for (const s of [...new Set(services)]) {
      if (s.startsWith('manifest:')) {
        const name = s.slice('manifest:'.length);
        const file = `${name}.yaml`;
        const live = `${manifests}/${file}`;
        const away = `${parked}/${file}`;
        if (state === 'stopped') {
          // Moving the manifest only asks kubelet: wait until the container is really gone.
          actions.push(
            exec(sh`if [ -e ${live} ]; then mkdir -p ${parked} && mv -n ${live} ${away}; fi`),
            waitFor(`the ${name} container is gone`, 120, podGone(name, [], 120)),
          );
        } else actions.push(exec(sh`if [ -e ${away} ]; then mv -n ${away} ${live}; fi`));
      } else if (state === 'stopped') {
        actions.push(exec(sh`systemctl stop ${s} && ! systemctl is-active --quiet ${s}`));
      } else actions.push(exec(sh`systemctl start ${s}`));
    }
    return { actions };
  },
};
