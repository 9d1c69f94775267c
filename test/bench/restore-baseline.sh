#!/usr/bin/env bash
# Baseline for the restore benchmark (test/bench/restore-bench.ts): restore every member of an
# etcd 3.4 cluster (systemd deployment, data dir /var/lib/etcd) from one snapshot, written by
# hand with plain OpenSSH, the way an operator would script it:
#   copy the snapshot to every member and check its sha256 there → stop etcd everywhere →
#   move the data dir aside → `etcdctl snapshot restore` with the member's name, peer URL, the
#   full initial cluster and a new token → start all members in parallel → wait until healthy.
# One ControlMaster connection per host (opened by the first ssh, closed on exit).
#
#   restore-baseline.sh KEY KNOWN_HOSTS SNAPSHOT TOKEN NAME=ADDRESS...
# RESTORE_COPY picks how the snapshot reaches the members (test/bench/restore-at-scale-bench.ts):
#   cat (default)  `cat >` over ssh to every member in parallel, sha256sum checked there (as above);
#   scp            parallel `scp`, then a remote sha256sum compared with the local one;
#   seed000        seed 000's procedure: stop etcd everywhere, move the data dirs aside, then `scp`
#                  to one member after the other (no hash check), restore, start all.
# Prints `copy-ms N`: the milliseconds the copying took.
# Peer URLs are http://ADDRESS:2380, client URLs http://ADDRESS:2379 (the lab's layout).
set -euo pipefail

if [ $# -lt 5 ]; then
  echo "usage: $0 KEY KNOWN_HOSTS SNAPSHOT TOKEN NAME=ADDRESS..." >&2
  exit 2
fi
key=$1 known_hosts=$2 snapshot=$3 token=$4
shift 4
members=("$@")

stamp=$(date -u +%Y%m%dT%H%M%SZ)-$$
dest=/var/backups/etcd/restore-$stamp.db
ctl=$(mktemp -d /tmp/restore-baseline.XXXXXX)
opts=(-i "$key" -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes
  -o "UserKnownHostsFile=$known_hosts" -o GlobalKnownHostsFile=/dev/null -o ConnectTimeout=5
  -o ControlMaster=auto -o "ControlPath=$ctl/%h" -o ControlPersist=60)

close_masters() {
  for m in "${members[@]}"; do ssh "${opts[@]}" -O exit "root@${m#*=}" 2>/dev/null || true; done
  rm -rf "$ctl"
}
trap close_masters EXIT

on() { local address=$1; shift; ssh "${opts[@]}" "root@$address" "$@"; }

# Run "$@" once per member in parallel with $name and $address set; fail if any failed.
each() {
  local pids=() m rc=0
  for m in "${members[@]}"; do
    ( name=${m%%=*} address=${m#*=}; "$@" ) &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  return $rc
}

initial_cluster=""
endpoints=""
for m in "${members[@]}"; do
  initial_cluster+="${initial_cluster:+,}${m%%=*}=http://${m#*=}:2380"
  endpoints+="${endpoints:+,}http://${m#*=}:2379"
done
sha=$(sha256sum "$snapshot" | cut -d' ' -f1)

now_ms() { date +%s%3N; }
scp_to() { scp -q "${opts[@]}" "$snapshot" "root@$address:$dest"; }
copy_scp() {
  on "$address" "mkdir -p /var/backups/etcd"
  scp_to
  local remote
  remote=$(on "$address" "sha256sum $dest" | cut -d' ' -f1)
  [ "$remote" = "$sha" ] || { echo "$name: sha256 mismatch ($remote != $sha)" >&2; return 1; }
}
aside() { on "$address" "if [ -e /var/lib/etcd ]; then mv /var/lib/etcd /var/lib/etcd.bak-$stamp; fi"; }

copy() {
  on "$address" "mkdir -p /var/backups/etcd && cat > $dest" < "$snapshot"
  local remote
  remote=$(on "$address" "sha256sum $dest" | cut -d' ' -f1)
  [ "$remote" = "$sha" ] || { echo "$name: sha256 mismatch ($remote != $sha)" >&2; return 1; }
}
stop() { on "$address" "systemctl stop etcd"; }
restore() {
  on "$address" "if [ -e /var/lib/etcd ]; then mv /var/lib/etcd /var/lib/etcd.bak-$stamp; fi &&
    etcdctl snapshot restore $dest --name=$name --initial-advertise-peer-urls=http://$address:2380 \
      --initial-cluster=$initial_cluster --initial-cluster-token=$token-$stamp --data-dir=/var/lib/etcd \
      >/tmp/restore-$stamp.log 2>&1 || { cat /tmp/restore-$stamp.log >&2; exit 1; }
    rm -f /tmp/restore-$stamp.log &&
    chown -R etcd:etcd /var/lib/etcd && chmod 0700 /var/lib/etcd"
}
start() { on "$address" "systemctl start etcd"; }

case ${RESTORE_COPY:-cat} in
  cat | scp)
    t0=$(now_ms)
    if [ "${RESTORE_COPY:-cat}" = scp ]; then each copy_scp; else each copy; fi
    echo "copy-ms $(($(now_ms) - t0))"
    each stop
    ;;
  seed000)
    each stop
    each aside
    t0=$(now_ms)
    for m in "${members[@]}"; do
      name=${m%%=*} address=${m#*=}
      on "$address" "mkdir -p /var/backups/etcd"
      scp_to
    done
    echo "copy-ms $(($(now_ms) - t0))"
    ;;
  *)
    echo "RESTORE_COPY must be cat, scp or seed000" >&2
    exit 2
    ;;
esac
each restore
each start

first=${members[0]#*=}
for _ in $(seq 1 240); do
  if on "$first" "etcdctl --endpoints=$endpoints endpoint health" >/dev/null 2>&1; then
    echo "restored ${#members[@]} members from $snapshot (token $token-$stamp)"
    exit 0
  fi
  sleep 0.5
done
echo "cluster not healthy after 120 s" >&2
exit 1
