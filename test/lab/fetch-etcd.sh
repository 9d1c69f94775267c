#!/usr/bin/env bash
# Fetch Debian's etcd-server + etcd-client of a given version prefix (e.g. 3.5) from Debian's
# newer suites WITHOUT installing them: a private apt configuration (own sources list naming the
# suites with the Debian archive keyring, own lists and cache dirs, no /etc/apt/sources.list.d),
# `apt-get download`, then `dpkg -x` into CACHE/etcd-<version>. The machine's own etcd (3.4) and
# /etc/apt are never touched.
#
#   test/lab/fetch-etcd.sh 3.5        # prints the directory (its usr/bin has etcd, etcdctl, etcdutl)
#
# CACHE is $RUNBOOK_LAB_CACHE or /var/cache/runbook-lab: outside the checkout, so a fresh clone
# (or CI on the same machine) reuses what an earlier run fetched. A complete cached directory for
# the prefix is used as is (no network); RUNBOOK_ETCD_REFRESH=1 asks the suites again.
# Suites: $RUNBOOK_ETCD_SUITES or "trixie sid"; the newest version matching the prefix wins.
# Failure names the suites and packages and exits non-zero: never a silent fallback to 3.4.
set -euo pipefail

prefix=${1:?usage: fetch-etcd.sh VERSION_PREFIX (e.g. 3.5)}
[[ $prefix =~ ^[0-9]+(\.[0-9]+)*$ ]] || { echo "fetch-etcd: bad version prefix '$prefix'" >&2; exit 2; }
cache=${RUNBOOK_LAB_CACHE:-/var/cache/runbook-lab}
suites=${RUNBOOK_ETCD_SUITES:-trixie sid}
packages=(etcd-server etcd-client)
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
mirror=${RUNBOOK_DEBIAN_MIRROR:-http://deb.debian.org/debian}

log() { printf 'fetch-etcd: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# A complete directory: the marker is written last, after the binaries ran.
complete() { [[ -f $1/.runbook-etcd && -x $1/usr/bin/etcd && -x $1/usr/bin/etcdctl ]]; }

newest_cached() {
  local d best=""
  for d in "$cache"/etcd-"$prefix".* "$cache"/etcd-"$prefix"; do
    [[ -d $d ]] && complete "$d" || continue
    if [[ -z $best ]] || dpkg --compare-versions "${d##*/etcd-}" gt "${best##*/etcd-}"; then best=$d; fi
  done
  printf '%s' "$best"
}

if [[ ${RUNBOOK_ETCD_REFRESH:-0} != 1 ]]; then
  hit=$(newest_cached)
  if [[ -n $hit ]]; then
    log "using cached $(head -n1 "$hit/.runbook-etcd") in $hit"
    printf '%s\n' "$hit"
    exit 0
  fi
fi

[[ -r $keyring ]] || die "$keyring missing: install the debian-archive-keyring package"
apt_dir=$cache/apt
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
: > "$apt_dir/sources.list.tmp"
for s in $suites; do
  printf 'deb [signed-by=%s] %s %s main\n' "$keyring" "$mirror" "$s" >> "$apt_dir/sources.list.tmp"
done
mv "$apt_dir/sources.list.tmp" "$apt_dir/sources.list"
# Everything apt reads or writes for this lives under $apt_dir; /etc/apt/sources.list.d and the
# machine's preferences are ignored (SourceParts, PreferencesParts), the system's lists untouched.
apt_opts=(
  -o "Dir::Etc::SourceList=$apt_dir/sources.list"
  -o Dir::Etc::SourceParts=/dev/null
  -o Dir::Etc::Preferences=/dev/null
  -o Dir::Etc::PreferencesParts=/dev/null
  -o "Dir::State::Lists=$apt_dir/lists"
  -o "Dir::Cache=$apt_dir/cache"
  -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=
  -o APT::Get::List-Cleanup=0
  -o APT::Sandbox::User=root
)
log "apt-get update ($suites) with a private sources list in $apt_dir"
if ! out=$(apt-get "${apt_opts[@]}" -q update 2>&1); then
  printf '%s\n' "$out" >&2
  die "apt-get update of Debian suite(s) '$suites' failed; cannot fetch ${packages[*]} $prefix"
fi
# apt-get update returns 0 even when one suite's index could not be fetched: say so.
if grep -qE '^(W|E): ' <<< "$out"; then grep -E '^(W|E): ' <<< "$out" | sed 's/^/fetch-etcd: apt: /' >&2; fi

# The newest version of etcd-server matching the prefix that every package offers.
version=""
while read -r v; do
  [[ $v == "$prefix" || $v == "$prefix".* || $v == "$prefix"-* ]] || continue
  ok=1
  for p in "${packages[@]}"; do
    apt-cache "${apt_opts[@]}" madison "$p" | awk -F'|' '{gsub(/ /,"",$2); print $2}' | grep -qxF -- "$v" || ok=0
  done
  [[ $ok == 1 ]] || continue
  if [[ -z $version ]] || dpkg --compare-versions "$v" gt "$version"; then version=$v; fi
done < <(apt-cache "${apt_opts[@]}" madison etcd-server | awk -F'|' '{gsub(/ /,"",$2); print $2}' | sed 's/^[0-9]*://' | sort -u)
# (madison also lists the machine's installed 3.4 from dpkg's status; the prefix filter drops it)
if [[ -z $version ]]; then
  offered=$(apt-cache "${apt_opts[@]}" madison etcd-server 2>/dev/null |
    awk -F'|' '{gsub(/ /,"",$2); gsub(/^ +| +$/,"",$3); split($3, a, " "); print $2" ("a[2]")"}' | paste -sd, -)
  die "no ${packages[*]} matching $prefix in Debian suite(s) '$suites' (offered: ${offered:-nothing})"
fi
upstream=${version%%-*}
upstream=${upstream#*:}
suite=$(apt-cache "${apt_opts[@]}" madison etcd-server | awk -F'|' -v v="$version" '{gsub(/ /,"",$2)} $2==v {print $3; exit}' | awk '{print $2}')
suite=${suite%%/*}
log "newest $prefix offered: etcd-server/etcd-client $version (from ${suite:-?})"

dest=$cache/etcd-$upstream
work=$(mktemp -d "$cache/.fetch-etcd.XXXXXX")
trap 'rm -rf "$work"' EXIT
pins=()
for p in "${packages[@]}"; do pins+=("$p=$version"); done
if ! (cd "$work" && apt-get "${apt_opts[@]}" -q download "${pins[@]}" >&2); then
  die "apt-get download ${pins[*]} from Debian suite(s) '$suites' failed"
fi
mkdir -p "$work/root"
for deb in "$work"/*.deb; do dpkg -x "$deb" "$work/root" || die "dpkg -x $deb failed"; done
for b in etcd etcdctl; do [[ -x $work/root/usr/bin/$b ]] || die "$b missing from ${packages[*]} $version"; done
got=$("$work/root/usr/bin/etcd" --version 2>&1 | awk '/^etcd Version:/ {print $3}') ||
  die "etcd $version from $suite does not run on this machine"
[[ $got == "$prefix" || $got == "$prefix".* ]] || die "etcd --version says '$got', expected $prefix"
printf 'etcd %s (Debian %s %s, packages %s)\n' "$got" "${suite:-?}" "$version" "${packages[*]}" > "$work/root/.runbook-etcd"
rm -rf "$dest.old"
[[ -e $dest ]] && mv "$dest" "$dest.old"
mv "$work/root" "$dest"
rm -rf "$dest.old"
log "etcd $got in $dest"
printf '%s\n' "$dest"
