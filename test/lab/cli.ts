// Lab CLI: `npm run lab -- up [--hosts N] [--members M] [--etcd 3.4|3.5] [--tls] [--no-etcd] [--quota BYTES] [--dir D]`,
// `--deployment systemd|static-pod [--kubelet-period S]`, `down [--dir D]`, `status [--dir D] [--json]`, `exec HOST -- CMD...`.

import { parseArgs } from 'node:util';
import type { Deployment } from './static-pod.js';
import { hostExec, labDown, labStatus, labUp, loadLab, sshArgs } from './lab.js';

const USAGE = `usage: lab up [--hosts N] [--members M] [--etcd 3.4|3.5] [--tls] [--no-etcd] [--quota BYTES] [--first-octet N] [--dir D]
         --etcd 3.5: Debian's newest etcd 3.5 from a newer suite (fetched once into /var/cache/runbook-lab)
         --tls:      https client and peer URLs, client-certificate auth (certificates under DIR/pki)
         --deployment static-pod: kubeadm-shaped, etcd and kube-apiserver as static pods run by the lab's
                     kubelet stand-in, which checks /etc/kubernetes/manifests every --kubelet-period s (default 5)
       lab down [--dir D]
       lab status [--dir D] [--json]
       lab exec HOST [--dir D] -- CMD...     (runs inside the host's namespaces, not via ssh)
       lab ssh HOST [--dir D]                (prints the ssh command for HOST)`;

function int(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new Error(`--${name} must be an integer`);
  return n;
}

function deploymentOf(v: string | undefined): Deployment | undefined {
  if (v === undefined || v === 'systemd' || v === 'static-pod') return v;
  throw new Error(`--deployment must be systemd or static-pod, got ${v}`);
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      hosts: { type: 'string' },
      members: { type: 'string' },
      'no-etcd': { type: 'boolean' },
      etcd: { type: 'string' },
      tls: { type: 'boolean' },
      quota: { type: 'string' },
      'first-octet': { type: 'string' },
      deployment: { type: 'string' },
      'kubelet-period': { type: 'string' },
      dir: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [cmd, ...rest] = positionals;
  if (values.help || !cmd) {
    console.log(USAGE);
    return cmd || values.help ? 0 : 2;
  }
  const dir = values.dir;
  switch (cmd) {
    case 'up': {
      const version = values.etcd ?? '3.4';
      if (version !== '3.4' && version !== '3.5') {
        console.error(`--etcd must be 3.4 or 3.5, got ${version}`);
        return 2;
      }
      const t0 = performance.now();
      const lab = await labUp({
        dir,
        hosts: int(values.hosts, 'hosts'),
        members: int(values.members, 'members'),
        etcd: !values['no-etcd'],
        quotaBytes: int(values.quota, 'quota'),
        firstOctet: int(values['first-octet'], 'first-octet'),
        etcdVersion: version,
        tls: values.tls ?? false,
        deployment: deploymentOf(values.deployment),
        kubeletPeriodSec: values['kubelet-period'] === undefined ? undefined : Number(values['kubelet-period']),
      });
      const ms = Math.round(performance.now() - t0);
      for (const h of lab.hosts) console.log(`${h.name}\t${h.address}\tinit pid ${h.initPid}${h.member ? '\tetcd member' : '\tspare'}`);
      console.log(`etcd: ${lab.etcdSource}`);
      console.log(`${lab.scheme}${lab.tls ? `: CA ${lab.tls.ca}, client certificate ${lab.tls.cert}` : ''}`);
      console.log(`deployment: ${lab.deployment}`);
      console.log(`inventory: ${lab.inventoryPath}`);
      if (lab.clientUrls.length > 0) console.log(`endpoints: ${lab.clientUrls.join(',')}`);
      console.log(`lab up in ${ms} ms`);
      return 0;
    }
    case 'down': {
      const t0 = performance.now();
      await labDown(dir);
      console.log(`lab down in ${Math.round(performance.now() - t0)} ms`);
      return 0;
    }
    case 'status': {
      const st = await labStatus(dir);
      if (values.json) console.log(JSON.stringify(st, null, 2));
      else if (st.length === 0) console.log('no lab');
      else for (const s of st) console.log(`${s.host}\t${s.address}\tsshd ${s.sshd ? 'up' : 'down'}\tetcd ${s.etcd ? 'up' : 'down'}`);
      return 0;
    }
    case 'exec': {
      const [host, ...words] = rest;
      if (!host || words.length === 0) throw new Error('usage: lab exec HOST -- CMD...');
      const r = await hostExec(loadLab(dir), host, words.join(' '));
      process.stdout.write(r.stdout);
      process.stderr.write(r.stderr);
      return r.code ?? 1;
    }
    case 'ssh': {
      const [host] = rest;
      if (!host) throw new Error('usage: lab ssh HOST');
      console.log(['ssh', ...sshArgs(loadLab(dir), host)].join(' '));
      return 0;
    }
    default:
      console.error(USAGE);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  },
);
