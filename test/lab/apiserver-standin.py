#!/usr/bin/python3
# ============================================================================================
# kube-apiserver STAND-IN for the runbook test lab. This is NOT kube-apiserver: it serves no
# Kubernetes API. It exists so that "dependents are stopped before a restore and started after"
# can be observed: like kube-apiserver, it holds a watch on etcd and writes to it all the time.
#
# The lab's kubelet stand-in runs it from /etc/kubernetes/manifests/kube-apiserver.yaml (image
# registry.k8s.io/kube-apiserver:*), with kube-apiserver's own etcd flags:
#   --etcd-servers=URL[,URL...]  --etcd-cafile=F  --etcd-certfile=F  --etcd-keyfile=F
#   --etcd-prefix=/registry (default)
# Every other flag is accepted and ignored. While it runs it
#   * keeps a watch on PREFIX/ through etcd's gRPC gateway (/v3/watch), re-opened on error;
#   * every 100 ms puts PREFIX/lab-apiserver/HOSTNAME = {"pid":…,"seq":…} and, once etcd has
#     acknowledged it, prints `write seq=N revision=R at=EPOCH_MS endpoint=URL` on stdout (so
#     `crictl logs` lists every write that reached etcd, with the time it was acknowledged);
#   * prints `started pid=…` first and `stopping (SIGTERM)` when told to stop, then exits 0.
# A failed write (etcd down, no quorum) is retried on the next endpoint and is not printed as a
# write: only acknowledged writes count.
# ============================================================================================
import http.client
import json
import os
import signal
import socket
import ssl
import sys
import threading
import time
from base64 import b64encode
from urllib.parse import urlparse

STOP = threading.Event()


def out(msg):
    sys.stdout.write(msg + '\n')
    sys.stdout.flush()


def flags(argv):
    f = {}
    for a in argv:
        if a.startswith('--') and '=' in a:
            k, v = a[2:].split('=', 1)
            f[k] = v
    return f


class Etcd:
    def __init__(self, f):
        self.urls = [u for u in f.get('etcd-servers', 'http://127.0.0.1:2379').split(',') if u]
        self.ctx = None
        if any(u.startswith('https://') for u in self.urls):
            self.ctx = ssl.create_default_context(cafile=f.get('etcd-cafile'))
            if f.get('etcd-certfile'):
                self.ctx.load_cert_chain(f['etcd-certfile'], f.get('etcd-keyfile'))
        self.i = 0

    def conn(self, url, timeout):
        u = urlparse(url)
        if u.scheme == 'https':
            return http.client.HTTPSConnection(u.hostname, u.port, timeout=timeout, context=self.ctx)
        return http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)

    def call(self, api, body, timeout=2.0):
        """POST to the current endpoint; on failure move to the next one and raise."""
        url = self.urls[self.i % len(self.urls)]
        c = self.conn(url, timeout)
        try:
            c.request('POST', '/v3/' + api, json.dumps(body), {'Content-Type': 'application/json'})
            r = c.getresponse()
            data = json.loads(r.read() or b'{}')
            if r.status != 200 or 'error' in data:
                raise OSError('%s %s: %s' % (url, api, data.get('error') or data.get('message') or r.status))
            return url, data
        except (OSError, ValueError, http.client.HTTPException):
            self.i += 1
            raise
        finally:
            c.close()


def b64(s):
    return b64encode(s.encode()).decode()


def watcher(etcd, prefix):
    """Hold a watch on PREFIX/ like kube-apiserver's reflectors; re-open it when it breaks."""
    key = prefix.rstrip('/') + '/'
    end = key[:-1] + chr(ord(key[-1]) + 1)
    i = 0
    while not STOP.is_set():
        url = etcd.urls[i % len(etcd.urls)]
        i += 1
        c = etcd.conn(url, 5.0)
        try:
            c.request('POST', '/v3/watch', json.dumps({'create_request': {'key': b64(key), 'range_end': b64(end)}}),
                      {'Content-Type': 'application/json'})
            r = c.getresponse()
            if r.status != 200:
                raise OSError('watch: HTTP %d' % r.status)
            out('watch open on %s%s' % (url, key))
            while not STOP.is_set():
                try:
                    line = r.readline()
                except socket.timeout:
                    continue
                if not line:
                    raise OSError('watch stream closed')
                msg = json.loads(line).get('result', {})
                if msg.get('canceled') or msg.get('compact_revision'):
                    out('watch canceled (compact_revision=%s), re-listing' % msg.get('compact_revision'))
                    break
        except (OSError, ValueError, http.client.HTTPException) as e:
            if not STOP.is_set():
                out('watch error: %s' % e)
                STOP.wait(1.0)
        finally:
            c.close()


def main():
    f = flags(sys.argv[1:])
    prefix = f.get('etcd-prefix', '/registry')
    etcd = Etcd(f)
    host = socket.gethostname()
    signal.signal(signal.SIGTERM, lambda *_: STOP.set())
    signal.signal(signal.SIGINT, lambda *_: STOP.set())
    out('started pid=%d etcd-servers=%s' % (os.getpid(), ','.join(etcd.urls)))
    threading.Thread(target=watcher, args=(etcd, prefix), daemon=True).start()
    key = '%s/lab-apiserver/%s' % (prefix.rstrip('/'), host)
    seq = 0
    last_err = ''
    while not STOP.is_set():
        seq += 1
        try:
            url, r = etcd.call('kv/put', {'key': b64(key), 'value': b64(json.dumps({'pid': os.getpid(), 'seq': seq}))})
            out('write seq=%d revision=%s at=%d endpoint=%s' % (seq, r.get('header', {}).get('revision'), time.time() * 1000, url))
            last_err = ''
        except (OSError, ValueError, http.client.HTTPException) as e:
            if str(e) != last_err:
                out('write failed: %s' % e)
                last_err = str(e)
        STOP.wait(0.1)
    out('stopping (SIGTERM)')


if __name__ == '__main__':
    main()
