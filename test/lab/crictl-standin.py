#!/usr/bin/python3
# ============================================================================================
# crictl STAND-IN for the runbook test lab. This is NOT crictl, and there is no CRI runtime.
#
# In a `--deployment static-pod` lab the containers are plain processes started by the kubelet
# stand-in (test/lab/kubelet-standin.py), which records each one in
# /run/lab/kubelet/containers/ID.json and its output in /run/lab/kubelet/logs/ID.log.
# test/lab/static-pod.ts puts this script on each host as /usr/local/bin/crictl. It answers what
# crictl would, for the questions static-pod playbooks and tests ask:
#
#   crictl ps [-a] [-q] [--name REGEX] [--state created|running|exited] [--pod ID] [-o json|table]
#   crictl pods [-q] [--name REGEX]          (a pod is Ready while its container runs)
#   crictl logs [--tail N] ID                 (ID or a unique prefix, as crictl takes)
#   crictl inspect ID                         (status + info.pid, JSON)
#
# The kubelet stand-in writes a container's exit into its record before reaping the process (as
# a runtime's shim does), so the record is the answer; a record that still says running but whose
# PID is gone or is another process now (the kubelet stand-in itself died) is shown as exited.
# Exit codes: 0, 1 on an unknown ID or a bad option.
# ============================================================================================
import argparse
import json
import os
import re
import sys
import time

STATE = '/run/lab/kubelet'
STATES = {'created': 'CONTAINER_CREATED', 'running': 'CONTAINER_RUNNING', 'exited': 'CONTAINER_EXITED', 'unknown': 'CONTAINER_UNKNOWN'}


def proc_start(pid):
    """Start time of a process still in /proc (a zombie too: the kubelet records its exit before reaping it)."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def containers():
    d = os.path.join(STATE, 'containers')
    out = []
    for n in os.listdir(d) if os.path.isdir(d) else []:
        if not n.endswith('.json'):
            continue
        try:
            with open(os.path.join(d, n)) as f:
                c = json.load(f)
        except (OSError, ValueError):
            continue
        if c.get('state') == 'CONTAINER_RUNNING' and (not c.get('pid') or proc_start(c['pid']) != c.get('pidStart')):
            c['state'] = 'CONTAINER_EXITED'
        out.append(c)
    return sorted(out, key=lambda c: c.get('createdAt', 0), reverse=True)


def ago(ns):
    s = max(0, int(time.time() - ns / 1e9))
    for unit, n in (('hours', 3600), ('minutes', 60)):
        if s >= n:
            return '%d %s ago' % (s // n, unit)
    return '%d seconds ago' % s


def find(cid):
    hits = [c for c in containers() if c['id'].startswith(cid)]
    if len(hits) != 1:
        sys.stderr.write('%s container %r\n' % ('no' if not hits else 'ambiguous', cid))
        sys.exit(1)
    return hits[0]


def ps(a):
    rows = containers()
    if a.state:
        want = STATES.get(a.state.lower())
        if want is None:
            sys.stderr.write('unknown state %r\n' % a.state)
            sys.exit(1)
        rows = [c for c in rows if c['state'] == want]
    elif not a.all:
        rows = [c for c in rows if c['state'] == 'CONTAINER_RUNNING']
    if a.name:
        rows = [c for c in rows if re.search(a.name, c['name'])]
    if a.pod:
        rows = [c for c in rows if c['podId'].startswith(a.pod)]
    if a.quiet:
        for c in rows:
            print(c['id'])
    elif a.output == 'json':
        print(json.dumps({'containers': [{
            'id': c['id'], 'podSandboxId': c['podId'], 'metadata': {'name': c['name'], 'attempt': c['attempt']},
            'image': {'image': c['image']}, 'imageRef': c['image'], 'state': c['state'], 'createdAt': str(c['createdAt']),
            'labels': {'io.kubernetes.pod.name': c['pod'], 'io.kubernetes.pod.namespace': c['namespace'],
                       'io.kubernetes.container.name': c['name']},
        } for c in rows]}, indent=2))
    else:
        fmt = '%-13s  %-40s  %-16s  %-8s  %-16s  %-7s  %-13s  %s'
        print(fmt % ('CONTAINER', 'IMAGE', 'CREATED', 'STATE', 'NAME', 'ATTEMPT', 'POD ID', 'POD'))
        for c in rows:
            print(fmt % (c['id'][:13], c['image'], ago(c['createdAt']), c['state'].replace('CONTAINER_', '').title(),
                         c['name'], c['attempt'], c['podId'][:13], c['pod']))


def pods(a):
    by = {}
    for c in containers():
        p = by.setdefault(c['podId'], {'id': c['podId'], 'name': c['pod'], 'namespace': c['namespace'], 'created': c['createdAt'], 'ready': False})
        p['ready'] = p['ready'] or c['state'] == 'CONTAINER_RUNNING'
        p['created'] = min(p['created'], c['createdAt'])
    rows = [p for p in by.values() if not a.name or re.search(a.name, p['name'])]
    if a.quiet:
        for p in rows:
            print(p['id'])
        return
    fmt = '%-13s  %-16s  %-8s  %-24s  %-16s'
    print(fmt % ('POD ID', 'CREATED', 'STATE', 'NAME', 'NAMESPACE'))
    for p in rows:
        print(fmt % (p['id'][:13], ago(p['created']), 'Ready' if p['ready'] else 'NotReady', p['name'], p['namespace']))


def logs(a):
    c = find(a.id)
    try:
        with open(c['log'], 'rb') as f:
            data = f.read()
    except OSError:
        data = b''
    if a.tail is not None and a.tail >= 0:
        lines = data.splitlines(keepends=True)
        data = b''.join(lines[-a.tail:] if a.tail else [])
    sys.stdout.buffer.write(data)


def inspect(a):
    c = find(a.id)
    print(json.dumps({'status': {'id': c['id'], 'metadata': {'name': c['name'], 'attempt': c['attempt']}, 'state': c['state'],
                                 'createdAt': str(c['createdAt']), 'startedAt': str(c['startedAt']), 'finishedAt': str(c['finishedAt']),
                                 'exitCode': c['exitCode'], 'reason': c['reason'], 'image': {'image': c['image']}, 'logPath': c['log']},
                      'info': {'pid': c['pid'] if c['state'] == 'CONTAINER_RUNNING' else 0}}, indent=2))


def main():
    ap = argparse.ArgumentParser(prog='crictl', description='runbook lab crictl stand-in')
    ap.add_argument('-r', '--runtime-endpoint', help='ignored')
    ap.add_argument('-i', '--image-endpoint', help='ignored')
    sub = ap.add_subparsers(dest='cmd', required=True)
    p = sub.add_parser('ps')
    p.add_argument('-a', '--all', action='store_true')
    p.add_argument('-q', '--quiet', action='store_true')
    p.add_argument('--name')
    p.add_argument('-s', '--state')
    p.add_argument('-p', '--pod')
    p.add_argument('-o', '--output', choices=['json', 'table'], default='table')
    p.set_defaults(fn=ps)
    p = sub.add_parser('pods')
    p.add_argument('-q', '--quiet', action='store_true')
    p.add_argument('--name')
    p.set_defaults(fn=pods)
    p = sub.add_parser('logs')
    p.add_argument('--tail', type=int)
    p.add_argument('id')
    p.set_defaults(fn=logs)
    p = sub.add_parser('inspect')
    p.add_argument('id')
    p.set_defaults(fn=inspect)
    a = ap.parse_args()
    a.fn(a)


if __name__ == '__main__':
    main()
