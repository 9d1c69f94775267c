// etcd_cert: will etcd accept this member's certificates? Read-only: the CA and the member's server
// and peer certificates are read off the host (`cat`), of each private key only its public half
// (`openssl pkey -pubout`: the key itself never leaves the host), and engine/tls/check.ts judges
// them on the controller (derive member_certs): signed by the cluster CA, valid, SANs covering
// the host of the member's peer and client URLs, each belonging to its key.
import type { Action } from '../../model/types.js';
import { sh } from '../../shell/sh.js';
import { ArgError, exec, opsModule, RUN_STAMP, type ModulePlan, type PlanCtx } from '../module.js';
import { ref } from './common.js';

const read = (file: string, bind: string): Action => exec(sh`cat -- ${file}`, { probe: true, bind });
const publicHalf = (key: string, bind: string): Action => exec(sh`openssl pkey -pubout -in ${key}`, { probe: true, bind });

function check(_args: unknown, ctx: PlanCtx): ModulePlan {
  const m = ctx.host.etcd;
  if (!m) {
    const hint = 'run it on a host of group etcd (when: inventory_hostname == new)';
    throw new ArgError('op', `${ctx.host.name} is not an etcd member in ${ctx.inventory.file}`, hint);
  }
  const t = ctx.inventory.cluster.tls;
  // A cluster without TLS has no certificates to check: the step says so and runs nothing.
  if (!t) {
    const none: Action = { kind: 'derive', fn: 'json', args: ['no TLS in this inventory: no certificates to check'], bind: 'skipped' };
    return { actions: [none], result: ref('skipped') };
  }
  // The same files etcd.conf names (etcd_config's etcdConfLines).
  const serverCert = t.serverCert ?? t.cert;
  const serverKey = t.serverKey ?? t.key;
  const peerCert = t.peerCert ?? serverCert;
  const peerKey = t.peerKey ?? serverKey;
  return {
    actions: [
      read(t.peerCa ?? t.ca, 'ca'),
      read(serverCert, 'server'),
      publicHalf(serverKey, 'server_pub'),
      read(peerCert, 'peer'),
      publicHalf(peerKey, 'peer_pub'),
      {
        kind: 'derive',
        fn: 'member_certs',
        args: [
          ref('ca.stdout'),
          ref('server.stdout'),
          ref('server_pub.stdout'),
          ref('peer.stdout'),
          ref('peer_pub.stdout'),
          `${serverCert},${peerCert}`,
          `${m.peerUrl},${m.clientUrl}`,
          RUN_STAMP,
        ],
        bind: 'certs',
      },
    ],
    result: ref('certs'),
  };
}

export const etcd_cert = opsModule({
  name: 'etcd_cert',
  schema: 'etcd_cert',
  summary: "check this member's server and peer certificates against the cluster CA and its URLs (read-only)",
  ops: {
    check: {
      readOnly: true,
      plan: check,
      intent: () => "refuse unless this member's server and peer certificates are signed by the cluster CA, valid, and cover its URLs",
    },
  },
});
