// dependents: stop or start the services that depend on etcd on this host (from the inventory's
// cluster.dependents): systemd units, or kubeadm static pods as manifest:NAME.
import type { Action } from '../../model/types.js';
import { sh } from '../../shell/sh.js';
import { exec, str, type ModuleDef } from '../module.js';
import { manifestParent } from './common.js';

export const dependents: ModuleDef = {
  name: 'dependents',
  schema: 'dependents',
  summary: 'stop or start the services that depend on etcd on this host (systemd units, or kubeadm static pods as manifest:NAME)',
  readOnly: false,
  plan: (args, ctx) => {
    const state = str(args, 'state');
    const c = ctx.inventory.cluster;
    const services = c.dependents.filter((d) => ctx.host.groups.includes(d.group)).flatMap((d) => d.services);
    const manifests = c.manifestFile.slice(0, c.manifestFile.lastIndexOf('/'));
    const parked = `${manifestParent(c.manifestFile)}/manifests-stopped-by-runbook`;
    const actions: Action[] = [];
    for (const s of [...new Set(services)]) {
      if (s.startsWith('manifest:')) {
        const file = `${s.slice('manifest:'.length)}.yaml`;
        const live = `${manifests}/${file}`;
        const away = `${parked}/${file}`;
        actions.push(
          state === 'stopped'
            ? exec(sh`if [ -e ${live} ]; then mkdir -p ${parked} && mv -n ${live} ${away}; fi`)
            : exec(sh`if [ -e ${away} ]; then mv -n ${away} ${live}; fi`),
        );
      } else if (state === 'stopped') {
        actions.push(exec(sh`systemctl stop ${s} && ! systemctl is-active --quiet ${s}`));
      } else actions.push(exec(sh`systemctl start ${s}`));
    }
    return { actions };
  },
};
