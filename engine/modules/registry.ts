// The static module registry: names → typed module objects. No lookup by class name or search path.
import type { ModuleDef } from './module.js';
import { assert, command, copy, fail, fetch, file, pause, service, set_fact, shell, template, wait_for } from './generic.js';
import { etcd_backup } from './etcd/backup.js';
import { etcd_cert } from './etcd/cert.js';
import { dependents } from './etcd/dependents.js';
import { etcd_config } from './etcd/config.js';
import { etcd_health } from './etcd/health.js';
import { etcd_maintenance } from './etcd/maintenance.js';
import { etcd_member } from './etcd/member.js';
import { etcd_service } from './etcd/service.js';
import { etcd_snapshot } from './etcd/snapshot.js';
import { etcd_upgrade } from './etcd/upgrade.js';

export const MODULES: Readonly<Record<string, ModuleDef>> = Object.freeze(
  Object.fromEntries(
    [
      shell,
      command,
      copy,
      fetch,
      template,
      file,
      service,
      wait_for,
      assert,
      fail,
      pause,
      set_fact,
      etcd_snapshot,
      etcd_member,
      etcd_health,
      etcd_maintenance,
      etcd_service,
      etcd_config,
      etcd_cert,
      etcd_upgrade,
      etcd_backup,
      dependents,
    ].map((m) => [m.name, m]),
  ),
);

export function getModule(name: string): ModuleDef | undefined {
  return Object.prototype.hasOwnProperty.call(MODULES, name) ? MODULES[name] : undefined;
}
