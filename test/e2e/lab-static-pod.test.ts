// e2e: the lab's kubelet and crictl stand-ins themselves (test/lab/kubelet-standin.py,
// crictl-standin.py), on a one-host static-pod lab (127.0.N.191): what they promise in their
// headers, observed from inside the host as an operator would (crictl, /proc), never by timing.
import assert from 'node:assert/strict';
import { hostExec, labDown, type Lab } from '../lab/lab.js';
import { SHAPE_C } from '../lab/shapes.js';
import { freshLab, labDir, onHost } from './playbook-helpers.js';
import { containerPid, containers, until } from './static-pod-helpers.js';

const H = 'etcd-1';
const M = '/etc/kubernetes/manifests';

/** A one-container pod manifest running COMMAND with the lab's test image (the host's own /bin). */
function pod(name: string, command: string[], extra: string[] = []): string {
  return [
    'apiVersion: v1',
    'kind: Pod',
    'metadata:',
    `  name: ${name}`,
    '  namespace: kube-system',
    'spec:',
    ...extra,
    '  containers:',
    '  - command:',
    ...command.map((c) => `    - ${JSON.stringify(c)}`),
    '    image: lab.test/host-bin:1',
    `    name: ${name}`,
    '',
  ].join('\n');
}

async function inspect(lab: Lab, id: string): Promise<{ status: { state: string; exitCode: number; reason: string } }> {
  return JSON.parse(await onHost(lab, H, `crictl inspect ${id}`)) as { status: { state: string; exitCode: number; reason: string } };
}

async function writeManifest(lab: Lab, file: string, text: string): Promise<void> {
  // Written beside, then renamed in: kubelet never sees half a file (as with kubeadm's writes).
  await onHost(lab, H, `cat > /etc/kubernetes/${file}.tmp <<'EOF'\n${text}EOF\nmv /etc/kubernetes/${file}.tmp ${M}/${file}`);
}

describe('lab: kubelet and crictl stand-ins (127.0.N.191)', function () {
  this.timeout(120_000);
  const DIR = labDir('kubelet-standin-sp');
  let lab: Lab;

  before(async function () {
    lab = await freshLab('kubelet-standin', { shape: { ...SHAPE_C, id: 'sp', deployment: 'static-pod' }, hosts: 1, firstOctet: 191 });
    // A test image: the host's own binaries (bash, sleep), for pods that are not etcd.
    await onHost(lab, H, "printf 'lab.test/host-bin:\\t/\\n' >> /run/lab/kubelet/images.tsv");
  });

  after(async function () {
    await labDown(DIR);
  });

  it('runs etcd and kube-apiserver from their manifests; crictl ps, pods, inspect and logs answer like crictl', async function () {
    const [etcd] = await containers(lab, H, 'etcd');
    assert.ok(etcd, 'no running etcd container');
    const pid = await containerPid(lab, H, 'etcd');
    assert.equal((await onHost(lab, H, `cat /proc/${pid}/comm`)).trim(), 'etcd');
    assert.match(await onHost(lab, H, `tr '\\0' ' ' < /proc/${pid}/cmdline`), /--name=etcd-1 .*--quota-backend-bytes=/);
    assert.match(await onHost(lab, H, 'crictl ps'), /^CONTAINER +IMAGE +CREATED +STATE +NAME +ATTEMPT +POD ID +POD$/m);
    assert.match(await onHost(lab, H, 'crictl ps'), /registry\.k8s\.io\/etcd:3\.4\.\d+-0 .* Running +etcd +0 +[0-9a-f]{13} +etcd-etcd-1$/m);
    assert.match(await onHost(lab, H, 'crictl pods'), /Ready +kube-apiserver-etcd-1 +kube-system/);
    assert.match(await onHost(lab, H, `crictl logs --tail 200 ${etcd.slice(0, 13)}`), /etcd/);
    assert.equal((await inspect(lab, etcd)).status.state, 'CONTAINER_RUNNING');
    assert.equal((await hostExec(lab, H, 'crictl logs 0000000000000')).code, 1, 'an unknown ID is an error');
  });

  it('a changed manifest: the old container is stopped before the new one starts (never two at once)', async function () {
    const [old] = await containers(lab, H, 'kube-apiserver');
    assert.ok(old);
    await onHost(lab, H, `sed -i 's/--secure-port=6443/--secure-port=6444/' ${M}/kube-apiserver.yaml`);
    let most = 0;
    await until('a new kube-apiserver container runs', async () => {
      const now = await containers(lab, H, 'kube-apiserver');
      most = Math.max(most, now.length);
      return now.length === 1 && now[0] !== old;
    });
    assert.equal(most, 1, 'two kube-apiserver containers ran at once');
    const o = await inspect(lab, old);
    assert.equal(o.status.state, 'CONTAINER_EXITED');
  });

  it('a removed manifest: SIGTERM, and SIGKILL once terminationGracePeriodSeconds is over', async function () {
    const ignoreTerm = "trap 'echo got TERM' TERM; echo ready; while :; do sleep 0.2; done";
    const stubborn = pod('stubborn', ['bash', '-c', ignoreTerm], ['  terminationGracePeriodSeconds: 2']);
    await writeManifest(lab, 'stubborn.yaml', stubborn);
    await until('the stubborn container runs', async () => (await containers(lab, H, 'stubborn')).length === 1);
    const [id] = await containers(lab, H, 'stubborn');
    await until('it is ready', async () => /ready/.test(await onHost(lab, H, `crictl logs ${id ?? ''}`)));
    await onHost(lab, H, `mv ${M}/stubborn.yaml /root/`);
    await until('the stubborn container is gone', async () => (await containers(lab, H, 'stubborn')).length === 0, 60_000);
    const s = await inspect(lab, id ?? '');
    assert.equal(s.status.exitCode, 137, 'killed by SIGKILL');
    assert.match(await onHost(lab, H, `crictl logs ${id ?? ''}`), /got TERM/);
    assert.match(await onHost(lab, H, 'cat /run/lab/kubelet.log'), /stubborn-etcd-1\/stubborn: grace period over, SIGKILL/);
  });

  it('a container that exits is restarted, then backs off (CrashLoopBackOff)', async function () {
    await writeManifest(lab, 'crasher.yaml', pod('crasher', ['bash', '-c', 'echo crashing; exit 3']));
    const backoff = /crasher-etcd-1: back-off 10 s restarting failed container/;
    await until('two attempts and a back-off', async () => backoff.test(await onHost(lab, H, 'cat /run/lab/kubelet.log')));
    const all = await containers(lab, H, 'crasher', true);
    assert.ok(all.length >= 2, all.join(' '));
    for (const id of all) assert.equal((await inspect(lab, id)).status.exitCode, 3);
    await onHost(lab, H, `mv ${M}/crasher.yaml /root/`);
  });

  it('an image without lab binaries is never run (ErrImagePull), nor a hostPath it cannot honour', async function () {
    await writeManifest(lab, 'nowhere.yaml', pod('nowhere', ['sleep', '1000']).replace('lab.test/host-bin:1', 'registry.example/nothing:1'));
    const moved = pod('moved', ['sleep', '1000'], ['  volumes:', '  - hostPath:', '      path: /var/lib/etcd', '    name: data']).replace(
      '    name: moved',
      '    name: moved\n    volumeMounts:\n    - mountPath: /data\n      name: data',
    );
    await writeManifest(lab, 'moved.yaml', moved);
    for (const [name, reason, why] of [
      ['nowhere', 'ErrImagePull', /no lab binaries for image registry\.example\/nothing:1/],
      ['moved', 'CreateContainerConfigError', /hostPath \/var\/lib\/etcd mounted at \/data/],
    ] as const) {
      await until(`${name} was tried`, async () => (await containers(lab, H, name, true)).length > 0);
      const [id] = await containers(lab, H, name, true);
      const s = await inspect(lab, id ?? '');
      assert.equal(s.status.reason, reason);
      assert.match(await onHost(lab, H, `crictl logs ${id ?? ''}`), why);
      assert.deepEqual(await containers(lab, H, name), [], `${name} runs`);
    }
    assert.equal((await hostExec(lab, H, 'pgrep -x sleep')).code, 1, 'a sleep ran');
    await onHost(lab, H, `mv ${M}/nowhere.yaml ${M}/moved.yaml /root/`);
  });
});

describe('lab: the kubelet stand-in notices manifest changes only on its file-check period (127.0.N.192)', function () {
  this.timeout(60_000);
  const DIR = labDir('kubelet-period-sp');
  let lab: Lab;

  before(async function () {
    const shape = { ...SHAPE_C, id: 'sp', deployment: 'static-pod' as const };
    lab = await freshLab('kubelet-period', { shape, hosts: 1, firstOctet: 192, kubeletPeriodSec: 3600 });
  });

  after(async function () {
    await labDown(DIR);
  });

  it('with a one-hour period: a removed manifest is not acted on, while a crashed container is restarted at once', async function () {
    const [etcd] = await containers(lab, H, 'etcd');
    const [api] = await containers(lab, H, 'kube-apiserver');
    assert.ok(etcd && api);
    await onHost(lab, H, `mv ${M}/etcd.yaml /root/`);
    // A container crash is seen at once (not a manifest change): kube-apiserver comes back ...
    await onHost(lab, H, `kill -KILL ${await containerPid(lab, H, 'kube-apiserver')}`);
    await until('kube-apiserver restarted', async () => {
      const now = await containers(lab, H, 'kube-apiserver');
      return now.length === 1 && now[0] !== api;
    });
    // ... while etcd, whose manifest left before that crash, still runs: the next check is an hour away.
    assert.deepEqual(await containers(lab, H, 'etcd'), [etcd]);
  });
});
