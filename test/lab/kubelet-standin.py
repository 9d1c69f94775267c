#!/usr/bin/python3
# ============================================================================================
# kubelet STAND-IN for the runbook test lab. This is NOT kubelet.
#
# A real kubelet needs a container runtime, cgroups and an API server; none can run inside a
# lab host (a few namespaces on one machine). test/lab/static-pod.ts copies this script into
# each host of a `--deployment static-pod` lab and starts it there, detached, as root. It does
# what kubelet does with static pods in --pod-manifest-path (/etc/kubernetes/manifests), and
# nothing else:
#
#   * notices changes only every --period seconds (kubelet's fileCheckFrequency, 20 s by
#     default; the lab passes its own, see lab.ts), never at once: a playbook that moves a
#     manifest out has to wait for the pod to go, as on a real node;
#   * a manifest that appears: runs the pod's container command (command + args of the spec,
#     env name/value pairs, workingDir) as a process in its own session; hostPath volumes are
#     the host's own paths (a volumeMount whose mountPath differs from its hostPath is refused:
#     there is no mount namespace per container here); DirectoryOrCreate dirs are created;
#   * a manifest that goes away: SIGTERM to the container's process group, SIGKILL after the
#     pod's terminationGracePeriodSeconds (default 30, as in Kubernetes);
#   * a manifest whose content changes: the old pod is stopped as above, the new one is started
#     only after the old one is gone (kubelet never runs two static pods of one name at once);
#   * a container that exits is restarted (restartPolicy Always) with kubelet's crash-loop
#     back-off: at once the first time, then 10 s doubling up to 300 s;
#   * image tags map to the lab's binaries: --images names a file of `IMAGE-PREFIX<TAB>ROOT`
#     lines (longest prefix wins, e.g. `registry.k8s.io/etcd:3.4.23-<TAB>/`); the command is
#     looked up in ROOT/usr/local/bin, ROOT/usr/bin, ROOT/bin. An image with no line is not
#     started (ErrImagePull in the log), never run with some other version's binary.
#
# Not done: probes (liveness/readiness/startup), resources, securityContext, init containers,
# more than one container per pod, mirror pods, an API server, pods from anything but files.
#
# State for the crictl stand-in (test/lab/crictl-standin.py), under --state (/run/lab/kubelet):
#   containers/ID.json   one record per container: pod, name, image, state, pid, times, exit code
#   logs/ID.log          the container's stdout+stderr (what `crictl logs` prints)
# The kubelet's own log is its stderr (the lab sends it to /run/lab/kubelet.log).
# ============================================================================================
import argparse
import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time

import yaml  # Debian python3-yaml, at /usr/bin/python3 (not a pyenv build)

SYS_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
LOCK = threading.Lock()


def log(msg):
    sys.stderr.write('%s lab-kubelet: %s\n' % (time.strftime('%Y-%m-%d %H:%M:%S'), msg))
    sys.stderr.flush()


def now_ns():
    return time.time_ns()


def write_json(path, obj):
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(obj, f)
    os.replace(tmp, path)


def proc_start(pid):
    """Start time (clock ticks since boot) of a live process, or None: tells crictl a PID is still ours."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            rest = f.read().rsplit(')', 1)[1].split()
        return None if rest[0] in ('Z', 'X') else rest[19]
    except (OSError, IndexError):
        return None


class Images:
    def __init__(self, path):
        self.path = path

    def root(self, image):
        best = None
        try:
            with open(self.path) as f:
                for line in f:
                    line = line.rstrip('\n')
                    if not line or line.startswith('#') or '\t' not in line:
                        continue
                    prefix, root = line.split('\t', 1)
                    if image.startswith(prefix) and (best is None or len(prefix) > len(best[0])):
                        best = (prefix, root)
        except OSError:
            pass
        return best[1] if best else None


class Container:
    """One run of a pod's container (a new record, ID and log for every start, like CRI)."""

    def __init__(self, kubelet, pod, attempt):
        self.kubelet = kubelet
        self.pod = pod
        self.attempt = attempt
        self.id = secrets.token_hex(32)
        self.proc = None
        self.exited = threading.Event()
        self.rec = {
            'id': self.id,
            'podId': pod.id,
            'pod': pod.full_name,
            'namespace': pod.namespace,
            'name': pod.container.get('name', ''),
            'image': pod.container.get('image', ''),
            'attempt': attempt,
            'state': 'CONTAINER_CREATED',
            'createdAt': now_ns(),
            'startedAt': 0,
            'finishedAt': 0,
            'exitCode': 0,
            'reason': '',
            'pid': 0,
            'pidStart': '',
            'manifest': pod.path,
            'log': os.path.join(kubelet.state, 'logs', self.id + '.log'),
        }

    def save(self):
        write_json(os.path.join(self.kubelet.state, 'containers', self.id + '.json'), self.rec)

    def fail(self, reason, msg):
        self.rec.update(state='CONTAINER_EXITED', reason=reason, exitCode=128, finishedAt=now_ns())
        with open(self.rec['log'], 'a') as f:
            f.write('lab-kubelet: %s: %s\n' % (reason, msg))
        self.save()
        self.exited.set()
        log('%s/%s: %s: %s' % (self.pod.full_name, self.rec['name'], reason, msg))

    def start(self):
        c = self.pod.container
        image = c.get('image', '')
        root = self.kubelet.images.root(image)
        if root is None:
            return self.fail('ErrImagePull', 'no lab binaries for image %s (see %s)' % (image, self.kubelet.images.path))
        argv = [str(x) for x in (c.get('command') or []) + (c.get('args') or [])]
        if not argv:
            return self.fail('CreateContainerError', 'no command in the container spec (image entrypoints are not known here)')
        exe = self.resolve(root, argv[0])
        if exe is None:
            return self.fail('CreateContainerError', '%s not found in image %s (root %s)' % (argv[0], image, root))
        problem = self.pod.check_volumes()
        if problem:
            return self.fail('CreateContainerConfigError', problem)
        env = {'PATH': SYS_PATH, 'HOME': '/root', 'HOSTNAME': self.kubelet.node}
        for e in c.get('env') or []:
            if isinstance(e, dict) and 'name' in e:
                env[str(e['name'])] = str(e.get('value', ''))
        logf = open(self.rec['log'], 'ab')
        try:
            self.proc = subprocess.Popen([exe] + argv[1:], executable=exe, env=env, cwd=c.get('workingDir') or '/',
                                         stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                         start_new_session=True, close_fds=True)
        except OSError as e:
            logf.close()
            return self.fail('StartError', str(e))
        logf.close()
        self.rec.update(state='CONTAINER_RUNNING', startedAt=now_ns(), pid=self.proc.pid, pidStart=proc_start(self.proc.pid) or '')
        self.save()
        log('%s/%s: started container %s (pid %d, attempt %d): %s' % (self.pod.full_name, self.rec['name'], self.id[:13],
                                                                     self.proc.pid, self.attempt, ' '.join(argv)))
        threading.Thread(target=self.wait, daemon=True).start()

    @staticmethod
    def resolve(root, cmd):
        if cmd.startswith('/'):
            cands = [os.path.join(root, cmd.lstrip('/'))]
        else:
            cands = [os.path.join(root, d, cmd) for d in ('usr/local/bin', 'usr/bin', 'bin')]
        for p in cands:
            if os.path.isfile(p) and os.access(p, os.X_OK):
                return p
        return None

    def wait(self):
        # Like a runtime's shim: record the exit while the process is still a zombie, then reap it.
        # So a container is never gone from /proc while its record still says running, and
        # finishedAt is never later than the moment `crictl ps` stops listing it.
        info = os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOWAIT)
        rc = info.si_status if info.si_code == os.CLD_EXITED else -info.si_status
        with LOCK:
            self.rec.update(state='CONTAINER_EXITED', finishedAt=now_ns(), exitCode=rc if rc >= 0 else 128 - rc,
                            reason='Completed' if rc == 0 else 'Error')
            self.save()
        self.proc.wait()
        log('%s/%s: container %s exited (%s)' % (self.pod.full_name, self.rec['name'], self.id[:13],
                                               'code %d' % rc if rc >= 0 else 'signal %d' % -rc))
        self.exited.set()

    def running(self):
        return self.proc is not None and not self.exited.is_set()

    def kill(self, grace):
        if not self.running():
            return
        pid = self.proc.pid
        log('%s/%s: killing container %s with a %d s grace period' % (self.pod.full_name, self.rec['name'], self.id[:13], grace))
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, None)):
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                pass
            if self.exited.wait(wait):
                return
            log('%s/%s: grace period over, SIGKILL' % (self.pod.full_name, self.rec['name']))


class Pod:
    def __init__(self, kubelet, path, digest, spec):
        self.kubelet = kubelet
        self.path = path
        self.digest = digest
        meta = spec.get('metadata') or {}
        self.namespace = meta.get('namespace') or 'default'
        self.full_name = '%s-%s' % (meta.get('name'), kubelet.node)  # kubelet names static pods NAME-NODENAME
        self.spec = spec.get('spec') or {}
        self.container = (self.spec.get('containers') or [{}])[0]
        self.id = secrets.token_hex(32)
        self.grace = int(self.spec.get('terminationGracePeriodSeconds', 30))
        self.current = None
        self.restarts = 0
        self.next_start = 0.0
        self.terminating = False
        self.terminated = threading.Event()

    def check_volumes(self):
        vols = {v.get('name'): v for v in self.spec.get('volumes') or []}
        for m in self.container.get('volumeMounts') or []:
            v = vols.get(m.get('name'))
            if v is None:
                return 'volumeMount %s names no volume' % m.get('name')
            hp = v.get('hostPath')
            if not hp:
                continue  # emptyDir and the like: nothing to check here
            if os.path.normpath(hp.get('path', '')) != os.path.normpath(m.get('mountPath', '')):
                return 'hostPath %s mounted at %s: the lab runs containers in the host filesystem, paths must match' % (
                    hp.get('path'), m.get('mountPath'))
            kind = hp.get('type', '')
            if kind == 'DirectoryOrCreate':
                os.makedirs(hp['path'], mode=0o755, exist_ok=True)
            elif kind == 'Directory' and not os.path.isdir(hp['path']):
                return 'hostPath %s is not a directory' % hp['path']
            elif kind == 'File' and not os.path.isfile(hp['path']):
                return 'hostPath %s is not a file' % hp['path']
        return None

    def sync(self):
        """Start the container, or restart it after an exit (restartPolicy Always, crash-loop back-off)."""
        if self.terminating:
            return
        if self.current is not None and (self.current.running() or not self.current.exited.is_set()):
            return
        t = time.monotonic()
        if self.current is not None:
            if self.next_start == 0.0:
                delay = 0 if self.restarts == 0 else min(10 * 2 ** (self.restarts - 1), 300)
                self.next_start = t + delay
                if delay:
                    log('%s: back-off %d s restarting failed container' % (self.full_name, delay))
            if t < self.next_start:
                return
            self.restarts += 1
        self.next_start = 0.0
        self.current = Container(self.kubelet, self, self.restarts)
        self.current.start()

    def terminate(self):
        self.terminating = True

        def run():
            if self.current is not None:
                self.current.kill(self.grace)
            log('%s: pod stopped' % self.full_name)
            self.terminated.set()

        threading.Thread(target=run, daemon=True).start()


class Kubelet:
    def __init__(self, args):
        self.manifests = args.manifests
        self.period = args.period
        self.state = args.state
        self.node = args.node
        self.images = Images(args.images)
        self.pods = {}  # full name -> Pod (running or terminating)
        self.bad = {}  # path -> digest already reported as unreadable
        os.makedirs(os.path.join(self.state, 'containers'), exist_ok=True)
        os.makedirs(os.path.join(self.state, 'logs'), exist_ok=True)

    def scan(self):
        """Desired pods from the manifest dir: full name -> (path, digest, spec). Like kubelet,
        hidden files are ignored, and so is anything that is not a readable pod manifest."""
        want = {}
        try:
            names = sorted(os.listdir(self.manifests))
        except OSError:
            names = []
        for n in names:
            p = os.path.join(self.manifests, n)
            if n.startswith('.') or not os.path.isfile(p):
                continue
            try:
                with open(p, 'rb') as f:
                    raw = f.read()
            except OSError:
                continue
            digest = hashlib.sha256(raw).hexdigest()
            try:
                spec = yaml.safe_load(raw)
                if not isinstance(spec, dict) or spec.get('kind') != 'Pod' or not (spec.get('metadata') or {}).get('name'):
                    raise ValueError('not a Pod with metadata.name')
            except (yaml.YAMLError, ValueError) as e:
                if self.bad.get(p) != digest:
                    log('%s: cannot use this manifest: %s' % (p, str(e).splitlines()[0]))
                    self.bad[p] = digest
                continue
            self.bad.pop(p, None)
            full = '%s-%s' % (spec['metadata']['name'], self.node)
            if full not in want:
                want[full] = (p, digest, spec)
        return want

    def reconcile(self, want):
        for full, pod in list(self.pods.items()):
            w = want.get(full)
            if not pod.terminating and (w is None or w[1] != pod.digest):
                log('%s: manifest %s, stopping the pod' % (full, 'removed' if w is None else 'changed'))
                pod.terminate()

    def tick(self, want):
        with LOCK:
            for full, pod in list(self.pods.items()):
                if pod.terminating and pod.terminated.is_set():
                    del self.pods[full]
            for full, (path, digest, spec) in want.items():
                if full not in self.pods:
                    log('%s: manifest %s found, starting the pod' % (full, path))
                    self.pods[full] = Pod(self, path, digest, spec)
            for pod in self.pods.values():
                pod.sync()

    def run(self):
        log('watching %s every %g s (node %s, images %s)' % (self.manifests, self.period, self.node, self.images.path))
        want = {}
        next_scan = 0.0
        while True:
            t = time.monotonic()
            if t >= next_scan:
                want = self.scan()
                with LOCK:
                    self.reconcile(want)
                next_scan = t + self.period
            self.tick(want)
            time.sleep(0.2)


def main():
    ap = argparse.ArgumentParser(description='runbook lab kubelet stand-in (static pods only)')
    ap.add_argument('--manifests', default='/etc/kubernetes/manifests')
    ap.add_argument('--period', type=float, default=20.0, help="seconds between manifest checks (kubelet's fileCheckFrequency)")
    ap.add_argument('--state', default='/run/lab/kubelet')
    ap.add_argument('--images', default='/run/lab/kubelet/images.tsv')
    ap.add_argument('--node', default=os.uname().nodename)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # containers keep running, as with a real kubelet restart
    Kubelet(args).run()


if __name__ == '__main__':
    main()
