#!/usr/bin/env bash
# The README's main job on the built-in lab: a real 3-member etcd cluster on 127.0.0.11-13,
# each member behind its own sshd. Back it up with runbook, destroy every member's data dir,
# restore the cluster with runbook, and prove the data came back.
#
# Shape: by default the production one, (a) etcd 3.5 (Debian's, fetched once into
# /var/cache/runbook-lab) with TLS under systemd, like inventories/prod-3-https.yml.
#   npm run demo                         # (a) etcd 3.5 + TLS + systemd
#   npm run demo -- --etcd 3.4 --http    # (c) the machine's etcd 3.4 over plain http
# KEEP_LAB=1 leaves the lab running afterwards (stop it with: npm run lab -- down).
set -euo pipefail
cd "$(dirname "$0")/../.."

etcd_minor=3.5
tls=1
while [ $# -gt 0 ]; do
  case $1 in
    --etcd) etcd_minor=${2:?--etcd needs 3.4 or 3.5}; shift ;;
    --etcd=*) etcd_minor=${1#--etcd=} ;;
    --http) tls=0 ;;
    --tls) tls=1 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "demo: unknown option $1 (try --etcd 3.4|3.5, --http, --tls)" >&2; exit 2 ;;
  esac
  shift
done

if ! command -v etcd >/dev/null || ! command -v etcdctl >/dev/null || [ ! -x /usr/sbin/sshd ] || ! command -v openssl >/dev/null ||
  [ ! -r /usr/share/keyrings/debian-archive-keyring.gpg ]; then
  echo "== installing etcd-server, etcd-client, openssh-server, openssl, debian-archive-keyring (Debian packages)"
  # Package scripts would start sshd on 0.0.0.0:22 and a stray etcd; keep services from starting.
  created_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; created_policy=1; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends etcd-server etcd-client openssh-server openssh-client \
    openssl debian-archive-keyring >/dev/null
  if [ "$created_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
fi
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run build --silent

lab() { node dist/test/lab/cli.js "$@"; }
runbook() { node bin/runbook.js "$@"; }
cleanup() { if [ "${KEEP_LAB:-0}" != 1 ]; then lab down >/dev/null; fi; }
trap cleanup EXIT

up_args=(--hosts 3 --etcd "$etcd_minor")
[ "$tls" = 1 ] && up_args+=(--tls)
echo "== starting the lab: 3 hosts, real sshd + etcd $etcd_minor$([ "$tls" = 1 ] && echo ' with TLS' || echo ' over http')"
up_out=$(lab up "${up_args[@]}")
printf '%s\n' "$up_out"
INV=.runbook/lab/inventory.yml
EPS=$(printf '%s\n' "$up_out" | sed -n 's/^endpoints: //p')
# The controller's own etcdctl (3.4) talks to either version; with TLS it shows the lab's client certificate.
if [ "$tls" = 1 ]; then
  etcdctl() { command etcdctl --cacert=.runbook/lab/pki/ca.crt --cert=.runbook/lab/pki/etcdctl.crt --key=.runbook/lab/pki/etcdctl.key "$@"; }
fi
lab exec etcd-1 -- etcd --version | head -n1 | sed 's/^/   etcd-1 runs: /'

echo "== writing 100 canary keys"
for i in $(seq 1 100); do echo "put /demo/canary/$i value-$i"; done | etcdctl --endpoints="$EPS" txn >/dev/null 2>&1 ||
  for i in $(seq 1 100); do etcdctl --endpoints="$EPS" put "/demo/canary/$i" "value-$i" >/dev/null; done
etcdctl --endpoints="$EPS" get /demo/canary/ --prefix --keys-only | grep -c . | sed 's/^/   keys written: /'

echo "== runbook apply backup.yml"
runbook apply backup.yml -i "$INV" --output text

echo "== disaster: etcd stopped and every member's data dir destroyed"
for h in etcd-1 etcd-2 etcd-3; do lab exec "$h" -- 'systemctl stop etcd >/dev/null 2>&1; rm -rf /var/lib/etcd' & done
wait
etcdctl --endpoints="$EPS" --dial-timeout=1s endpoint health 2>&1 | sed 's/^/   /' || true

echo "== runbook apply restore-all.yml"
runbook apply restore-all.yml -i "$INV" --yes --output text

echo "== verify"
etcdctl --endpoints="$EPS" endpoint health
etcdctl --endpoints="$EPS" member list -w table
keys=$(etcdctl --endpoints="$EPS" get /demo/canary/ --prefix --keys-only | grep -c .)
value=$(etcdctl --endpoints="$EPS" get /demo/canary/42 --print-value-only)
echo "   canary keys after restore: $keys (value of /demo/canary/42: $value)"
[ "$keys" = 100 ] && [ "$value" = value-42 ] && echo "== demo OK: the cluster was restored with all its data"
