// The lab's kubeadm shape (`lab up --deployment static-pod`): etcd and kube-apiserver run as
// static pods from /etc/kubernetes/manifests, started by the kubelet stand-in
// (test/lab/kubelet-standin.py) instead of the systemctl stand-in. Kept apart from lab.ts, which
// calls prepareStaticPodHost / startKubelets / staticPodInventoryYaml for this shape only.
//
// Per host: /usr/local/bin gets an overlay with `kubelet` and `crictl` (the stand-ins) on top of
// the machine's own; a member has manifests/etcd.yaml and manifests/kube-apiserver.yaml; a spare
// host (a prepared machine not yet in the cluster) has its etcd manifest parked in
// /etc/kubernetes/manifests-stopped-by-runbook/, where runbook's etcd_service starts it from.
// Image tags map to binaries by version (run/lab/kubelet/images.tsv): an etcd image runs only
// with binaries whose `etcd --version` is the tag's version.
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';

export type Deployment = 'systemd' | 'static-pod';

/** How often the kubelet stand-in looks at /etc/kubernetes/manifests (kubelet: fileCheckFrequency, 20 s). */
export const DEFAULT_KUBELET_PERIOD_SEC = 5;

export const APISERVER_IMAGE = 'registry.k8s.io/kube-apiserver:v1.31.4';
export const MANIFESTS = '/etc/kubernetes/manifests';
export const PARKED = '/etc/kubernetes/manifests-stopped-by-runbook';

/** Where kubeadm puts etcd's certificates (the paths inventories/kubeadm-static-pod.yml names). */
export const KUBEADM_TLS = {
  ca: '/etc/kubernetes/pki/etcd/ca.crt',
  cert: '/etc/kubernetes/pki/etcd/healthcheck-client.crt',
  key: '/etc/kubernetes/pki/etcd/healthcheck-client.key',
  serverCert: '/etc/kubernetes/pki/etcd/server.crt',
  serverKey: '/etc/kubernetes/pki/etcd/server.key',
  peerCert: '/etc/kubernetes/pki/etcd/peer.crt',
  peerKey: '/etc/kubernetes/pki/etcd/peer.key',
  /** kube-apiserver's etcd client certificate. */
  apiserverCert: '/etc/kubernetes/pki/apiserver-etcd-client.crt',
  apiserverKey: '/etc/kubernetes/pki/apiserver-etcd-client.key',
};

/**
 * The lab PKI (lab.ts makePki: DIR/pki) laid out as kubeadm does on one host: etcd's CA, this
 * member's server and peer pairs, the lab's client pair as healthcheck-client (what runbook's
 * etcdctl uses) and as apiserver-etcd-client. Owned by root: kubeadm's etcd runs as root.
 */
export async function installKubeadmPki(pki: string, h: { name: string; stateDir: string; member: boolean }): Promise<void> {
  const root = path.join(h.stateDir, 'etc-kubernetes');
  await fs.mkdir(path.join(root, 'pki/etcd'), { recursive: true, mode: 0o755 });
  const copy = async (from: string, to: string, mode: number): Promise<void> => {
    const dest = path.join(root, to.replace(/^\/etc\/kubernetes\//, ''));
    await fs.copyFile(path.join(pki, from), dest);
    await fs.chmod(dest, mode);
  };
  const t = KUBEADM_TLS;
  await copy('ca.crt', t.ca, 0o644);
  for (const [crt, key] of [
    [t.cert, t.key],
    [t.apiserverCert, t.apiserverKey],
  ] as const) {
    await copy('etcdctl.crt', crt, 0o644);
    await copy('etcdctl.key', key, 0o600);
  }
  if (!existsSync(path.join(pki, h.name))) return;
  await copy(`${h.name}/server.crt`, t.serverCert, 0o644);
  await copy(`${h.name}/server.key`, t.serverKey, 0o600);
  await copy(`${h.name}/peer.crt`, t.peerCert, 0o644);
  await copy(`${h.name}/peer.key`, t.peerKey, 0o600);
}

export interface MemberSpec {
  name: string;
  address: string;
}

/** registry.k8s.io/etcd:3.5.16-0 for etcd 3.5.16, as kubeadm names it. */
export function etcdImage(version: string): string {
  return `registry.k8s.io/etcd:${version}-0`;
}

/**
 * A kubeadm-shaped etcd.yaml: `command: - etcd` and one `- --flag=value` line per setting,
 * sorted by flag as kubeadm writes them. Differences from kubeadm's, because every lab host
 * shares one network namespace: no 127.0.0.1 client URL, metrics on the host's own address.
 * runbook's etcd_service and etcd_config edit these lines (`- etcd`, `- --initial-cluster=`,
 * `- --initial-cluster-state=`), so their shape matters.
 */
export function etcdManifest(o: {
  host: MemberSpec;
  members: MemberSpec[];
  version: string;
  scheme: 'http' | 'https';
  state: 'new' | 'existing';
  tls: boolean;
  operatorEnv: string[];
  dataDir: string;
}): string {
  const { host, scheme } = o;
  const tls = o.tls ? KUBEADM_TLS : undefined;
  const client = `${scheme}://${host.address}:2379`;
  const peer = `${scheme}://${host.address}:2380`;
  const flags: Record<string, string> = {
    'advertise-client-urls': client,
    'data-dir': o.dataDir,
    'experimental-initial-corrupt-check': 'true',
    'experimental-watch-progress-notify-interval': '5s',
    'initial-advertise-peer-urls': peer,
    'initial-cluster': o.members.map((m) => `${m.name}=${scheme}://${m.address}:2380`).join(','),
    'initial-cluster-state': o.state,
    'listen-client-urls': client,
    'listen-peer-urls': peer,
    name: host.name,
  };
  // The systemd shape's operator settings (lab.ts operatorSettings: ETCD_QUOTA_BACKEND_BYTES=…) as flags.
  for (const line of o.operatorEnv) {
    const eq = line.indexOf('=');
    flags[line.slice('ETCD_'.length, eq).toLowerCase().replace(/_/g, '-')] = line.slice(eq + 1);
  }
  if (tls) {
    Object.assign(flags, {
      'cert-file': tls.serverCert,
      'client-cert-auth': 'true',
      'key-file': tls.serverKey,
      'peer-cert-file': tls.peerCert,
      'peer-client-cert-auth': 'true',
      'peer-key-file': tls.peerKey,
      'peer-trusted-ca-file': tls.ca,
      'trusted-ca-file': tls.ca,
    });
  }
  const certDir = tls ? path.posix.dirname(tls.ca) : '/etc/kubernetes/pki/etcd';
  return [
    'apiVersion: v1',
    'kind: Pod',
    'metadata:',
    '  annotations:',
    `    kubeadm.kubernetes.io/etcd.advertise-client-urls: ${client}`,
    '  creationTimestamp: null',
    '  labels:',
    '    component: etcd',
    '    tier: control-plane',
    '  name: etcd',
    '  namespace: kube-system',
    'spec:',
    '  containers:',
    '  - command:',
    '    - etcd',
    ...Object.keys(flags)
      .sort()
      .map((k) => `    - --${k}=${flags[k]}`),
    `    image: ${etcdImage(o.version)}`,
    '    imagePullPolicy: IfNotPresent',
    '    name: etcd',
    '    resources:',
    '      requests:',
    '        cpu: 100m',
    '        memory: 100Mi',
    '    volumeMounts:',
    `    - mountPath: ${o.dataDir}`,
    '      name: etcd-data',
    `    - mountPath: ${certDir}`,
    '      name: etcd-certs',
    '  hostNetwork: true',
    '  priority: 2000001000',
    '  priorityClassName: system-node-critical',
    '  volumes:',
    '  - hostPath:',
    `      path: ${certDir}`,
    '      type: DirectoryOrCreate',
    '    name: etcd-certs',
    '  - hostPath:',
    `      path: ${o.dataDir}`,
    '      type: DirectoryOrCreate',
    '    name: etcd-data',
    'status: {}',
    '',
  ].join('\n');
}

/** kube-apiserver.yaml with kubeadm's etcd flags (its local member only, as kubeadm sets it). */
export function apiserverManifest(o: { host: MemberSpec; scheme: 'http' | 'https'; tls: boolean }): string {
  const { host } = o;
  const tls = o.tls ? { ca: KUBEADM_TLS.ca, clientCert: KUBEADM_TLS.apiserverCert, clientKey: KUBEADM_TLS.apiserverKey } : undefined;
  const flags = [
    `--advertise-address=${host.address}`,
    '--allow-privileged=true',
    '--authorization-mode=Node,RBAC',
    ...(tls ? [`--etcd-cafile=${tls.ca}`, `--etcd-certfile=${tls.clientCert}`, `--etcd-keyfile=${tls.clientKey}`] : []),
    `--etcd-servers=${o.scheme}://${host.address}:2379`,
    '--secure-port=6443',
  ];
  const mounts = tls ? [...new Set([path.posix.dirname(tls.ca), path.posix.dirname(tls.clientCert)])] : [];
  return [
    'apiVersion: v1',
    'kind: Pod',
    'metadata:',
    '  labels:',
    '    component: kube-apiserver',
    '    tier: control-plane',
    '  name: kube-apiserver',
    '  namespace: kube-system',
    'spec:',
    '  containers:',
    '  - command:',
    '    - kube-apiserver',
    ...flags.map((f) => `    - ${f}`),
    `    image: ${APISERVER_IMAGE}`,
    '    imagePullPolicy: IfNotPresent',
    '    name: kube-apiserver',
    ...(mounts.length > 0
      ? ['    volumeMounts:', ...mounts.flatMap((m, i) => [`    - mountPath: ${m}`, `      name: certs-${i}`, '      readOnly: true'])]
      : []),
    '  hostNetwork: true',
    '  priorityClassName: system-node-critical',
    ...(mounts.length > 0
      ? ['  volumes:', ...mounts.flatMap((m, i) => ['  - hostPath:', `      path: ${m}`, '      type: DirectoryOrCreate', `    name: certs-${i}`])]
      : []),
    'status: {}',
    '',
  ].join('\n');
}

/** Files of one static-pod host under its state dir (mounted into the host by host-init.sh and startKubelets). */
export async function prepareStaticPodHost(o: {
  stateDir: string;
  labSrc: string;
  host: MemberSpec;
  member: boolean;
  members: MemberSpec[];
  version: string;
  etcdRoot: string;
  scheme: 'http' | 'https';
  tls: boolean;
  /** The operator settings of the systemd shape, as ETCD_X=value lines (lab.ts operatorSettings). */
  operatorEnv: string[];
}): Promise<void> {
  const s = o.stateDir;
  const k8s = path.join(s, 'etc-kubernetes');
  // Everything the host's own processes read lives below run-lab (/run/lab inside the host): a state
  // dir below the controller's /tmp (a checkout there) is hidden inside the host, whose /tmp is its own.
  const apiRoot = path.join(s, 'run-lab/images/kube-apiserver');
  await Promise.all([
    fs.mkdir(path.join(k8s, 'manifests'), { recursive: true }),
    fs.mkdir(path.join(s, 'run-lab/usr-local-bin'), { recursive: true }),
    fs.mkdir(path.join(s, 'run-lab/kubelet'), { recursive: true }),
    fs.mkdir(path.join(apiRoot, 'usr/local/bin'), { recursive: true }),
    o.member ? Promise.resolve() : fs.mkdir(path.join(k8s, 'manifests-stopped-by-runbook'), { recursive: true }),
  ]);
  const etcd = etcdManifest({
    ...{ host: o.host, members: o.members, version: o.version, scheme: o.scheme, tls: o.tls, operatorEnv: o.operatorEnv },
    state: o.member ? 'new' : 'existing',
    dataDir: '/var/lib/etcd',
  });
  const apiserver = apiserverManifest({ host: o.host, scheme: o.scheme, tls: o.tls });
  const images = [
    "# IMAGE-PREFIX<TAB>ROOT: the kubelet stand-in runs an image's command from ROOT/usr/local/bin, ROOT/usr/bin or ROOT/bin",
    `${etcdImage(o.version).replace(/-0$/, '-')}\t${o.etcdRoot}`,
    'registry.k8s.io/kube-apiserver:\t/run/lab/images/kube-apiserver',
  ].join('\n');
  const exe = async (src: string, dest: string): Promise<void> => {
    await fs.copyFile(path.join(o.labSrc, src), dest);
    await fs.chmod(dest, 0o755);
  };
  await Promise.all([
    fs.writeFile(path.join(k8s, o.member ? 'manifests' : 'manifests-stopped-by-runbook', 'etcd.yaml'), etcd),
    o.member ? fs.writeFile(path.join(k8s, 'manifests/kube-apiserver.yaml'), apiserver) : Promise.resolve(),
    fs.writeFile(path.join(s, 'run-lab/kubelet/images.tsv'), images + '\n'),
    exe('kubelet-standin.py', path.join(s, 'run-lab/usr-local-bin/kubelet')),
    exe('crictl-standin.py', path.join(s, 'run-lab/usr-local-bin/crictl')),
    exe('apiserver-standin.py', path.join(apiRoot, 'usr/local/bin/kube-apiserver')),
  ]);
}

/**
 * The shell command (run inside a host by hostExec) that puts kubelet and crictl on the host's
 * /usr/local/bin (an overlay: the machine's own files stay visible) and starts the kubelet
 * stand-in detached, its log in /run/lab/kubelet.log. The host's init reaps it.
 */
export function startKubeletCmd(periodSec: number): string {
  return [
    "{ /usr/bin/python3 -c 'import yaml' 2>/dev/null || { echo 'the kubelet stand-in needs /usr/bin/python3 with PyYAML (Debian: python3-yaml)' >&2; exit 1; }; }",
    '/usr/bin/mount -t overlay overlay -o lowerdir=/run/lab/usr-local-bin:/usr/local/bin /usr/local/bin',
    `/usr/bin/setsid -f /usr/local/bin/kubelet --period=${periodSec} --manifests=${MANIFESTS} </dev/null >>/run/lab/kubelet.log 2>&1`,
  ].join(' && ');
}

/** Inventory lines of the static-pod shape, shaped like inventories/kubeadm-static-pod.yml. */
export function staticPodClusterYaml(o: { version: string; token: string; scheme: 'http' | 'https'; tls?: typeof KUBEADM_TLS }): string[] {
  const out = [
    `  etcd_version: "${o.version}"`,
    '  deployment: static-pod',
    `  scheme: ${o.scheme}`,
    `  token: ${o.token}`,
    '  data_dir: /var/lib/etcd',
    '  backup_dir: /var/backups/etcd',
    '  controller_backup_dir: ./backups',
    `  manifest_file: ${MANIFESTS}/etcd.yaml`,
  ];
  if (o.tls) {
    out.push(
      '  tls:',
      `    ca: ${o.tls.ca}`,
      `    cert: ${o.tls.cert}`,
      `    key: ${o.tls.key}`,
      `    server_cert: ${o.tls.serverCert}`,
      `    server_key: ${o.tls.serverKey}`,
      `    peer_cert: ${o.tls.peerCert}`,
      `    peer_key: ${o.tls.peerKey}`,
    );
  }
  out.push('  dependents:', '    - group: control_plane', '      services: [manifest:kube-apiserver]');
  return out;
}
