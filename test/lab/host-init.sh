#!/bin/bash
# runbook test lab: PID 1 of one lab host's namespaces (mount, uts, pid).
#
# Started by test/lab/lab.ts as
#   unshare --mount --uts --pid --fork --mount-proc --propagation private -- \
#     /bin/bash host-init.sh STATE_DIR HOST_NAME [ETCD_BIN_DIR]
# It makes the host-private mounts (all sources are paths relative to STATE_DIR, which stays
# the working directory while mounting, so a STATE_DIR under /tmp or /root still resolves
# after those are over-mounted), starts sshd, then supervises it and reaps every orphan of
# the namespace. Killing this process (SIGKILL from outside) kills everything in the host.
set -euo pipefail

state=$1
name=$2
etcd_bin=${3:-}   # another etcd build's usr/bin (e.g. 3.5 from fetch-etcd.sh), laid over /usr/bin

fail() { echo "host-init[$name]: $*" >&2; exit 1; }

cd "$state" || fail "no state dir $state"

/usr/bin/hostname "$name"

# /var/lib is an overlay (lower = the real /var/lib) so playbooks can mv /var/lib/etcd.
/usr/bin/mount -t overlay overlay \
  -o "lowerdir=/var/lib,upperdir=./var-lib-upper,workdir=./var-lib-work,redirect_dir=on" /var/lib \
  || fail "overlay mount of /var/lib failed"

bind() { /usr/bin/mount --bind "$1" "$2" || fail "bind $1 -> $2 failed"; }
# /run is the host's own (a tmpfs, as on a real machine): run locks (/run/runbook-lock.*) and
# anything else written there stay on this host and go away with it.
/usr/bin/mount -t tmpfs -o mode=0755,size=16m tmpfs /run || fail "tmpfs /run failed"
/usr/bin/mkdir -p /run/lab /run/systemd
bind ./etc-etcd /etc/etcd
bind ./etc-kubernetes /etc/kubernetes
bind ./etc-systemd-system /etc/systemd/system
bind ./run-lab /run/lab
bind ./var-backups /var/backups
bind ./etc-hosts /etc/hosts
bind ./etc-hostname /etc/hostname
# /usr/bin is this host's own overlay: lower = [another etcd build's usr/bin:] the real /usr/bin,
# upper = ./usr-bin-upper. With a build, etcd, etcdctl and etcdutl are that version at their usual
# paths (first on sshd's default PATH). Writes land in the upper dir only: upgrade.yml installs new
# etcd binaries over /usr/bin/etcd as on a real machine, and the machine's own 3.4 stays installed
# and untouched. Before the systemctl bind, which sits on top.
lower=/usr/bin
if [[ -n $etcd_bin ]]; then
  [[ -x $etcd_bin/etcd ]] || fail "no etcd in $etcd_bin"
  lower=$etcd_bin:/usr/bin
fi
/usr/bin/mount -t overlay overlay -o "lowerdir=$lower,upperdir=./usr-bin-upper,workdir=./usr-bin-work" /usr/bin \
  || fail "overlay of $lower on /usr/bin failed"
bind ./bin/systemctl /usr/bin/systemctl
/usr/bin/mount -o remount,bind,ro /usr/bin/systemctl
/usr/bin/mount -t tmpfs -o mode=0755,size=16m tmpfs /run/systemd || fail "tmpfs /run/systemd failed"
/usr/bin/mkdir -p /run/systemd/system
# Last: /tmp and /root (cwd keeps STATE_DIR reachable even if it lives below them).
bind ./tmp /tmp
bind ./root /root
cd /

# A fresh, package-like /var/lib/etcd that hides whatever the real machine has there
# (rm in the overlay leaves a whiteout; the new dir is opaque).
/usr/bin/rm -rf /var/lib/etcd
/usr/bin/mkdir -m 0700 /var/lib/etcd
/usr/bin/chown etcd:etcd /var/lib/etcd

/usr/bin/mkdir -p /run/sshd          # sshd's privilege separation dir
/usr/bin/chmod 0755 /run/sshd

sshd_pid=0
start_sshd() {
  /usr/sbin/sshd -D -f /run/lab/ssh/sshd_config -E /run/lab/sshd.log </dev/null &
  sshd_pid=$!
}
start_sshd
echo "$sshd_pid" > /run/lab/init.sshd
: > /run/lab/init.ready

# Supervise sshd and reap: while bash waits for sshd it reaps every child that ends, adopted
# orphans too (waitpid(-1)), at once, as systemd would: a zombie left in a killed command's
# process group would otherwise look alive to the transport's kill script until the next reap.
set +e
while :; do
  wait "$sshd_pid"
  if ! kill -0 "$sshd_pid" 2>/dev/null; then
    echo "host-init[$name]: sshd exited, restarting" >&2
    /usr/bin/sleep 1 # a sshd that cannot start must not make this a busy loop
    start_sshd
  fi
done
