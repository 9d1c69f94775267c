#!/bin/bash
# ============================================================================================
# systemctl STAND-IN for the runbook test lab. This is NOT systemd.
#
# systemd is not running on the lab machine, so test/lab/lab.ts bind-mounts this script over
# /usr/bin/systemctl inside each lab host's mount namespace. It implements just enough of
# systemctl for etcd playbooks, for units in /etc/systemd/system/NAME.service:
#
#   start|stop|restart|try-restart|reload-or-restart|status|is-active|is-failed|is-enabled|
#   enable|disable [--now]|kill [-s SIG]|daemon-reload|daemon-reexec|reset-failed|show|cat|
#   list-units
#
# Unit keys read ([Service]): ExecStart= (with `\` continuations; prefixes -@:+! ignored),
# ExecStartPre=, EnvironmentFile= (optional leading -), Environment=, User=, Group=,
# WorkingDirectory=, LimitNOFILE=, Type=, Restart= (no|always|on-failure|on-abnormal),
# RestartSec=, TimeoutStartSec=, TimeoutStopSec=, TimeoutSec=. Everything else is ignored.
#
# A started unit runs detached under a small supervisor (this script, `__supervise NAME`),
# which implements Restart=. Files in /run/lab (host-private):
#   NAME.sup   supervisor PID          NAME.pid   main PID (its own session / process group)
#   NAME.exit  last unexpected exit    NAME.stopping  set while `stop` is in progress
#   NAME.log   stdout+stderr of the service and the supervisor's own messages
# `start` blocks until the unit is ready, like Type=notify: for etcd (ExecStart binary named
# etcd) until its own client URL answers `endpoint status` (etcd serves clients only once the
# member has published itself through raft, which is also when it sends READY=1; learners
# included), for others as soon as the process runs. It fails if the process exits first or
# after TimeoutStartSec (default 90 s), like systemd. `stop` sends SIGTERM to the main process
# group, then SIGKILL after TimeoutStopSec (default 30 s here).
# Exit codes follow systemctl: is-active/status 0 active, 3 not active; 4/5 unknown unit.
# ============================================================================================
set -uo pipefail

UNIT_DIR=/etc/systemd/system
RUN=/run/lab
SELF=$(/usr/bin/readlink -f "${BASH_SOURCE[0]}")
SYS_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH=$SYS_PATH

QUIET=0
NO_BLOCK=0
NOW=0
SIGNAL=TERM
VALUE=0
PROPS=()

msg() { [[ $QUIET == 1 ]] || printf '%s\n' "$*"; }
err() { printf '%s\n' "$*" >&2; }
now_ms() { local s; s=$(/usr/bin/date +%s%3N); printf '%s' "$s"; }

# "90", "90s", "1min", "500ms", "1min 30s", "infinity" -> milliseconds
to_ms() {
  local v=$1 total=0 n u
  [[ $v == infinity ]] && { printf '%s' 999999999; return; }
  v=${v// /}
  while [[ $v =~ ^([0-9]+)(ms|s|sec|m|min|h|hr)?(.*)$ ]]; do
    n=${BASH_REMATCH[1]}; u=${BASH_REMATCH[2]}; v=${BASH_REMATCH[3]}
    case $u in
      ms) total=$((total + n)) ;;
      m|min) total=$((total + n * 60000)) ;;
      h|hr) total=$((total + n * 3600000)) ;;
      *) total=$((total + n * 1000)) ;;
    esac
  done
  printf '%s' "$total"
}

unit_name() { local u=${1%.service}; printf '%s' "$u"; }
unit_file() { printf '%s/%s.service' "$UNIT_DIR" "$1"; }

trim() { local s=$1; s=${s#"${s%%[![:space:]]*}"}; s=${s%"${s##*[![:space:]]}"}; printf '%s' "$s"; }

# Quote-aware split of systemd list values (Environment="A=b c" D=e) into WORDS.
split_words() {
  local s=$1 w="" q="" c i have=0
  WORDS=()
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    if [[ -n $q ]]; then
      if [[ $c == "$q" ]]; then q=""; elif [[ $c == '\' && $q == '"' ]]; then i=$((i + 1)); w+=${s:i:1}; else w+=$c; fi
    elif [[ $c == '"' || $c == "'" ]]; then q=$c; have=1
    elif [[ $c == [[:space:]] ]]; then
      if [[ $have == 1 ]]; then WORDS+=("$w"); w=""; have=0; fi
    else w+=$c; have=1
    fi
  done
  [[ $have == 1 ]] && WORDS+=("$w")
  return 0
}

# Parse NAME's unit file into U_* variables.
parse_unit() {
  local file line cont="" section="" key val
  file=$(unit_file "$1")
  U_DESC=""; U_EXEC=""; U_PRE=(); U_ENVFILES=(); U_ENV=(); U_USER=""; U_GROUP=""; U_WD=""
  U_NOFILE=""; U_TYPE=simple; U_RESTART=no; U_RESTART_MS=100; U_TSTART_MS=90000
  U_TSTOP_MS=30000; U_WANTED_BY=()
  [[ -f $file ]] || return 1
  while IFS= read -r line || [[ -n $line ]]; do
    line=${line%$'\r'}
    if [[ -n $cont ]]; then
      local t; t=$(trim "$line")
      if [[ $t == \#* || $t == \;* ]]; then continue; fi
      line="$cont $t"; cont=""
    fi
    if [[ $line == *\\ ]]; then cont=${line%\\}; continue; fi
    line=$(trim "$line")
    [[ -z $line || $line == \#* || $line == \;* ]] && continue
    if [[ $line =~ ^\[(.*)\]$ ]]; then section=${BASH_REMATCH[1]}; continue; fi
    [[ $line == *=* ]] || continue
    key=$(trim "${line%%=*}"); val=$(trim "${line#*=}")
    case "$section/$key" in
      Unit/Description) U_DESC=$val ;;
      Service/ExecStart) U_EXEC=$val ;;
      Service/ExecStartPre) if [[ -z $val ]]; then U_PRE=(); else U_PRE+=("$val"); fi ;;
      Service/EnvironmentFile) if [[ -z $val ]]; then U_ENVFILES=(); else U_ENVFILES+=("$val"); fi ;;
      Service/Environment)
        if [[ -z $val ]]; then U_ENV=(); else split_words "$val"; U_ENV+=("${WORDS[@]}"); fi ;;
      Service/User) U_USER=$val ;;
      Service/Group) U_GROUP=$val ;;
      Service/WorkingDirectory) U_WD=${val#-} ;;
      Service/LimitNOFILE) U_NOFILE=${val%%:*} ;;
      Service/Type) U_TYPE=$val ;;
      Service/Restart) U_RESTART=$val ;;
      Service/RestartSec) U_RESTART_MS=$(to_ms "$val") ;;
      Service/TimeoutStartSec) U_TSTART_MS=$(to_ms "$val") ;;
      Service/TimeoutStopSec) U_TSTOP_MS=$(to_ms "$val") ;;
      Service/TimeoutSec) U_TSTART_MS=$(to_ms "$val"); U_TSTOP_MS=$U_TSTART_MS ;;
      Install/WantedBy) split_words "$val"; U_WANTED_BY+=("${WORDS[@]}") ;;
    esac
  done < "$file"
  [[ ${#U_WANTED_BY[@]} -gt 0 ]] || U_WANTED_BY=(multi-user.target)
  return 0
}

# Build the service environment into ENVV (KEY=VALUE words) like systemd: a clean
# environment, Environment= first, then EnvironmentFile= (which overrides).
build_env() {
  local f optional line key val home shell
  ENVV=("PATH=$SYS_PATH" "LANG=C.UTF-8")
  if [[ -n $U_USER ]]; then
    IFS=: read -r _ _ _ _ _ home shell < <(/usr/bin/getent passwd "$U_USER") || true
    ENVV+=("USER=$U_USER" "LOGNAME=$U_USER" "HOME=${home:-/}" "SHELL=${shell:-/bin/sh}")
  fi
  ENVV+=("${U_ENV[@]}")
  for f in "${U_ENVFILES[@]}"; do
    optional=0
    if [[ $f == -* ]]; then optional=1; f=${f#-}; fi
    if [[ ! -r $f ]]; then
      [[ $optional == 1 ]] && continue
      err "Failed to load environment files: $f: No such file or directory"
      return 1
    fi
    while IFS= read -r line || [[ -n $line ]]; do
      line=$(trim "${line%$'\r'}")
      [[ -z $line || $line == \#* || $line == \;* || $line != *=* ]] && continue
      key=$(trim "${line%%=*}"); val=$(trim "${line#*=}")
      if [[ $val =~ ^\"(.*)\"$ || $val =~ ^\'(.*)\'$ ]]; then val=${BASH_REMATCH[1]}; fi
      ENVV+=("$key=$val")
    done < "$f"
  done
  return 0
}

env_get() { # last value of $1 in ENVV
  local kv v=""
  for kv in "${ENVV[@]}"; do [[ ${kv%%=*} == "$1" ]] && v=${kv#*=}; done
  printf '%s' "$v"
}

strip_prefix() { local c=$1; while [[ $c == [-@:+!]* ]]; do c=${c:1}; done; printf '%s' "$c"; }

alive() { [[ -n ${1:-} && $1 =~ ^[0-9]+$ ]] && kill -0 "$1" 2>/dev/null; }
main_pid() { local p=""; [[ -f $RUN/$1.pid ]] && read -r p < "$RUN/$1.pid"; printf '%s' "${p:-}"; }
sup_pid() { local p=""; [[ -f $RUN/$1.sup ]] && read -r p < "$RUN/$1.sup"; printf '%s' "${p:-}"; }

# active | failed | inactive
state_of() {
  local m; m=$(main_pid "$1")
  if alive "$m"; then printf active
  elif alive "$(sup_pid "$1")"; then printf activating   # auto-restart pending
  elif [[ -f $RUN/$1.exit ]]; then printf failed
  else printf inactive
  fi
}

log() { printf '%s lab-systemctl: %s\n' "$(/usr/bin/date '+%F %T')" "$2" >> "$RUN/$1.log"; }

# ---- supervisor (runs detached: setsid, stdio to the log) ---------------------------------
supervise() {
  local name=$1 rc cmd pre drop group m
  trap '' HUP
  echo "$BASHPID" > "$RUN/$name.sup"
  while :; do
    if ! parse_unit "$name" || ! build_env; then
      echo 1 > "$RUN/$name.exit"; break
    fi
    drop=()
    if [[ -n $U_USER ]]; then
      group=$U_GROUP
      [[ -n $group ]] || group=$(/usr/bin/id -gn "$U_USER" 2>/dev/null) || group=""
      drop=(/usr/bin/setpriv "--reuid=$U_USER" "--regid=${group:-$U_USER}" --init-groups)
    fi
    rc=0
    for pre in "${U_PRE[@]}"; do
      cmd=$(strip_prefix "$pre")
      (cd "${U_WD:-/}" && exec "${drop[@]}" /usr/bin/env -i "${ENVV[@]}" /bin/bash -c "exec $cmd") \
        </dev/null || { [[ $pre == -* ]] || { rc=$?; break; }; }
    done
    if [[ $rc != 0 ]]; then
      log "$name" "ExecStartPre failed (rc=$rc)"; echo "$rc" > "$RUN/$name.exit"; break
    fi
    cmd=$(strip_prefix "$U_EXEC")
    (
      cd "${U_WD:-/}" || exit 200
      if [[ -n $U_NOFILE ]]; then ulimit -n "$U_NOFILE" 2>/dev/null || true; fi
      exec /usr/bin/setsid "${drop[@]}" /usr/bin/env -i "${ENVV[@]}" /bin/bash -c "exec $cmd"
    ) </dev/null &
    m=$!
    echo "$m" > "$RUN/$name.pid"
    log "$name" "started $name.service (main PID $m)"
    wait "$m"; rc=$?
    rm -f "$RUN/$name.pid"
    if [[ -f $RUN/$name.stopping ]]; then log "$name" "stopped (rc=$rc)"; break; fi
    log "$name" "main process exited unexpectedly (rc=$rc)"
    echo "$rc" > "$RUN/$name.exit"
    case $U_RESTART in
      always) ;;
      on-failure) [[ $rc != 0 ]] || break ;;
      on-abnormal) [[ $rc -gt 128 ]] || break ;;
      *) break ;;
    esac
    local waited=0
    while ((waited < U_RESTART_MS)); do
      [[ -f $RUN/$name.stopping ]] && break 2
      /usr/bin/sleep 0.1; waited=$((waited + 100))
    done
    [[ -f $RUN/$name.stopping ]] && break
    log "$name" "scheduled restart (Restart=$U_RESTART)"
  done
  rm -f "$RUN/$name.sup"
}

# ---- readiness -----------------------------------------------------------------------------
etcd_client_url() {
  local u
  u=$(env_get ETCD_ADVERTISE_CLIENT_URLS)
  [[ -n $u ]] || u=$(env_get ETCD_LISTEN_CLIENT_URLS)
  if [[ -z $u && $U_EXEC =~ --(advertise|listen)-client-urls[=\ ]+([^ ]+) ]]; then u=${BASH_REMATCH[2]}; fi
  [[ -n $u ]] || u=http://127.0.0.1:2379
  u=${u%%,*}
  u=${u/0.0.0.0/127.0.0.1}
  printf '%s' "$u"
}

# 0 = ready. For etcd: `endpoint status` on the member's own client URL succeeds. etcd 3.4
# serves client requests only after ReadyNotify (the member published its attributes through
# raft, i.e. it joined a cluster with quorum) -- the moment it sends sd_notify READY=1, which is
# what real systemd waits for with Type=notify. Unlike a linearizable read, a learner (`member
# add --learner`) passes too, and unlike /health it works under a NOSPACE alarm. Only this
# member is asked: --endpoints is its own URL, and status is answered locally.
etcd_ready() {
  local url=$1 out tls=() ca cert key
  if [[ $url == https://* ]]; then
    ca=$(env_get ETCD_TRUSTED_CA_FILE); cert=$(env_get ETCD_CERT_FILE); key=$(env_get ETCD_KEY_FILE)
    [[ -n $ca ]] && tls+=("--cacert=$ca")
    [[ -n $cert && -n $key ]] && tls+=("--cert=$cert" "--key=$key")
  fi
  out=$(/usr/bin/etcdctl "--endpoints=$url" "${tls[@]}" --dial-timeout=1s --command-timeout=2s \
    endpoint status 2>&1) && return 0
  [[ $out == *"permission denied"* || $out == *"user name is empty"* || $out == *"invalid auth token"* ]]
}

is_etcd_unit() { local c; c=$(strip_prefix "$U_EXEC"); c=${c%% *}; [[ ${c##*/} == etcd ]]; }

# ---- commands ------------------------------------------------------------------------------
need_unit() {
  if [[ ! -f $(unit_file "$1") ]]; then
    err "Failed to $2 $1.service: Unit $1.service not found."
    return 5
  fi
}

do_start() {
  local name=$1 deadline m url
  need_unit "$name" start || return 5
  case $(state_of "$name") in
    active) return 0 ;;
    activating) do_stop "$name" ;;   # auto-restart pending: restart now instead
  esac
  parse_unit "$name"
  build_env || return 1
  rm -f "$RUN/$name.exit" "$RUN/$name.stopping"
  /usr/bin/setsid -f /bin/bash "$SELF" __supervise "$name" </dev/null >>"$RUN/$name.log" 2>&1
  deadline=$(( $(now_ms) + U_TSTART_MS ))
  # the supervisor writes NAME.pid right away
  for _ in $(seq 1 100); do
    [[ -f $RUN/$name.pid || -f $RUN/$name.exit ]] && break
    /usr/bin/sleep 0.02
  done
  [[ $NO_BLOCK == 1 ]] && return 0
  url=""
  if is_etcd_unit; then url=$(etcd_client_url); fi
  while :; do
    if [[ -f $RUN/$name.exit ]]; then
      err "Job for $name.service failed because the control process exited with error code."
      err "See \"systemctl status $name.service\" and /run/lab/$name.log for details."
      return 1
    fi
    m=$(main_pid "$name")
    if alive "$m"; then
      if [[ -z $url ]]; then
        [[ $U_TYPE == notify ]] && /usr/bin/sleep 0.2
        alive "$m" && return 0
      elif etcd_ready "$url"; then
        return 0
      fi
    fi
    if (( $(now_ms) > deadline )); then
      err "Job for $name.service failed because a timeout was exceeded."
      do_stop "$name" >/dev/null 2>&1
      echo timeout > "$RUN/$name.exit"
      return 1
    fi
    /usr/bin/sleep 0.1
  done
}

do_stop() {
  local name=$1 m s deadline
  need_unit "$name" stop || return 5
  m=$(main_pid "$name"); s=$(sup_pid "$name")
  if ! alive "$m" && ! alive "$s"; then rm -f "$RUN/$name.pid" "$RUN/$name.sup" "$RUN/$name.exit"; return 0; fi
  parse_unit "$name"
  : > "$RUN/$name.stopping"
  if alive "$m"; then
    kill -TERM -- "-$m" 2>/dev/null || kill -TERM "$m" 2>/dev/null
    deadline=$(( $(now_ms) + U_TSTOP_MS ))
    while alive "$m" && (( $(now_ms) < deadline )); do /usr/bin/sleep 0.05; done
    if alive "$m"; then
      log "$name" "stop timed out, sending SIGKILL"
      kill -KILL -- "-$m" 2>/dev/null || kill -KILL "$m" 2>/dev/null
      while alive "$m"; do /usr/bin/sleep 0.05; done
    fi
  fi
  for _ in $(seq 1 40); do alive "$s" || break; /usr/bin/sleep 0.05; done
  alive "$s" && kill -TERM "$s" 2>/dev/null
  rm -f "$RUN/$name.stopping" "$RUN/$name.exit" "$RUN/$name.pid" "$RUN/$name.sup"
  return 0
}

do_kill() {
  local name=$1 m
  need_unit "$name" kill || return 5
  m=$(main_pid "$name")
  alive "$m" || return 0
  kill -s "$SIGNAL" -- "-$m" 2>/dev/null || kill -s "$SIGNAL" "$m"
}

do_status() {
  local name=$1 st m file enabled=disabled rc
  file=$(unit_file "$name")
  if [[ ! -f $file ]]; then err "Unit $name.service could not be found."; return 4; fi
  parse_unit "$name"
  st=$(state_of "$name"); m=$(main_pid "$name")
  [[ -L $UNIT_DIR/${U_WANTED_BY[0]}.wants/$name.service ]] && enabled=enabled
  printf '● %s.service - %s\n' "$name" "$U_DESC"
  printf '     Loaded: loaded (%s; %s)\n' "$file" "$enabled"
  case $st in
    active) printf '     Active: active (running)\n   Main PID: %s (%s)\n' "$m" "$(cat "/proc/$m/comm" 2>/dev/null)" ;;
    activating) printf '     Active: activating (auto-restart)\n' ;;
    failed) printf '     Active: failed (Result: exit-code, status=%s)\n' "$(cat "$RUN/$name.exit" 2>/dev/null)" ;;
    *) printf '     Active: inactive (dead)\n' ;;
  esac
  if [[ -f $RUN/$name.log ]]; then echo; /usr/bin/tail -n 10 "$RUN/$name.log"; fi
  [[ $st == active ]] && rc=0 || rc=3
  return $rc
}

do_enable() {
  local name=$1 t
  need_unit "$name" enable || return 5
  parse_unit "$name"
  for t in "${U_WANTED_BY[@]}"; do
    /usr/bin/mkdir -p "$UNIT_DIR/$t.wants"
    if [[ ! -L $UNIT_DIR/$t.wants/$name.service ]]; then
      /usr/bin/ln -sf "$(unit_file "$name")" "$UNIT_DIR/$t.wants/$name.service"
      [[ $QUIET == 1 ]] || err "Created symlink $UNIT_DIR/$t.wants/$name.service → $(unit_file "$name")."
    fi
  done
  [[ $NOW == 1 ]] && { do_start "$name" || return; }
  return 0
}

do_disable() {
  local name=$1 l
  for l in "$UNIT_DIR"/*.wants/"$name".service; do
    [[ -L $l ]] || continue
    /usr/bin/rm -f "$l"; [[ $QUIET == 1 ]] || err "Removed \"$l\"."
  done
  [[ $NOW == 1 ]] && { do_stop "$name" || return; }
  return 0
}

do_show() {
  local name=$1 p v st m all=(Id LoadState ActiveState SubState MainPID ExecMainStatus UnitFileState FragmentPath User Result)
  local file; file=$(unit_file "$name")
  parse_unit "$name" || true
  st=$(state_of "$name"); m=$(main_pid "$name")
  [[ ${#PROPS[@]} -gt 0 ]] || PROPS=("${all[@]}")
  for p in "${PROPS[@]}"; do
    case $p in
      Id) v=$name.service ;;
      Names) v=$name.service ;;
      LoadState) [[ -f $file ]] && v=loaded || v=not-found ;;
      ActiveState) v=$st; [[ $st == activating ]] && v=activating ;;
      SubState) case $st in active) v=running ;; failed) v=failed ;; activating) v=auto-restart ;; *) v=dead ;; esac ;;
      MainPID) alive "$m" && v=$m || v=0 ;;
      ExecMainStatus) v=$(cat "$RUN/$name.exit" 2>/dev/null || echo 0) ;;
      Result) [[ $st == failed ]] && v=exit-code || v=success ;;
      UnitFileState) v=disabled; for l in "$UNIT_DIR"/*.wants/"$name".service; do [[ -L $l ]] && v=enabled; done ;;
      FragmentPath) [[ -f $file ]] && v=$file || v="" ;;
      User) v=${U_USER:-} ;;
      Description) v=${U_DESC:-} ;;
      *) v="" ;;
    esac
    if [[ $VALUE == 1 ]]; then printf '%s\n' "$v"; else printf '%s=%s\n' "$p" "$v"; fi
  done
}

# ---- argument parsing ----------------------------------------------------------------------
ARGS=()
while [[ $# -gt 0 ]]; do
  case $1 in
    -q|--quiet) QUIET=1 ;;
    --no-block) NO_BLOCK=1 ;;
    --now) NOW=1 ;;
    --value) VALUE=1 ;;
    -s|--signal) SIGNAL=${2#SIG}; shift ;;
    --signal=*) SIGNAL=${1#--signal=}; SIGNAL=${SIGNAL#SIG} ;;
    -p|--property) IFS=, read -ra _p <<< "$2"; PROPS+=("${_p[@]}"); shift ;;
    --property=*) IFS=, read -ra _p <<< "${1#--property=}"; PROPS+=("${_p[@]}") ;;
    --no-pager|--full|-l|--system|--no-legend|--plain|--no-ask-password|-a|--all) ;;
    --kill-whom=*|--type=*|--state=*|-n|--lines=*|-o|--output=*) [[ $1 == -n || $1 == -o ]] && shift ;;
    --) shift; ARGS+=("$@"); break ;;
    -*) err "systemctl (lab stand-in): unsupported option $1"; exit 1 ;;
    *) ARGS+=("$1") ;;
  esac
  shift
done

[[ ${#ARGS[@]} -gt 0 ]] || ARGS=(list-units)
CMD=${ARGS[0]}
UNITS=()
for u in "${ARGS[@]:1}"; do UNITS+=("$(unit_name "$u")"); done

need_units() { if [[ ${#UNITS[@]} -eq 0 ]]; then err "Too few arguments."; exit 1; fi; }

rc=0
case $CMD in
  __supervise) supervise "${UNITS[0]}"; exit 0 ;;
  start) need_units; for u in "${UNITS[@]}"; do do_start "$u" || rc=$?; done ;;
  stop) need_units; for u in "${UNITS[@]}"; do do_stop "$u" || rc=$?; done ;;
  restart|reload-or-restart|force-reload)
    need_units; for u in "${UNITS[@]}"; do { do_stop "$u" && do_start "$u"; } || rc=$?; done ;;
  try-restart|condrestart)
    need_units
    for u in "${UNITS[@]}"; do
      if [[ $(state_of "$u") == active ]]; then { do_stop "$u" && do_start "$u"; } || rc=$?; fi
    done ;;
  kill) need_units; for u in "${UNITS[@]}"; do do_kill "$u" || rc=$?; done ;;
  is-active)
    need_units; rc=3
    for u in "${UNITS[@]}"; do st=$(state_of "$u"); msg "$st"; [[ $st == active ]] && rc=0; done ;;
  is-failed)
    need_units; rc=1
    for u in "${UNITS[@]}"; do st=$(state_of "$u"); msg "$st"; [[ $st == failed ]] && rc=0; done ;;
  is-enabled)
    need_units; rc=1
    for u in "${UNITS[@]}"; do
      if [[ ! -f $(unit_file "$u") ]]; then msg not-found; continue; fi
      st=disabled; for l in "$UNIT_DIR"/*.wants/"$u".service; do [[ -L $l ]] && st=enabled; done
      msg "$st"; [[ $st == enabled ]] && rc=0
    done ;;
  status)
    if [[ ${#UNITS[@]} -eq 0 ]]; then echo "● $(/usr/bin/hostname) (runbook lab: systemctl stand-in)"; exit 0; fi
    for u in "${UNITS[@]}"; do do_status "$u" || rc=$?; done ;;
  enable) need_units; for u in "${UNITS[@]}"; do do_enable "$u" || rc=$?; done ;;
  disable) need_units; for u in "${UNITS[@]}"; do do_disable "$u" || rc=$?; done ;;
  reset-failed) for u in "${UNITS[@]}"; do rm -f "$RUN/$u.exit"; done ;;
  daemon-reload|daemon-reexec) ;;   # unit files are read on every start
  show) need_units; for u in "${UNITS[@]}"; do do_show "$u"; done ;;
  cat)
    need_units
    for u in "${UNITS[@]}"; do
      f=$(unit_file "$u"); [[ -f $f ]] || { err "No files found for $u.service."; rc=1; continue; }
      echo "# $f"; /usr/bin/cat "$f"
    done ;;
  list-units|list-unit-files)
    for f in "$UNIT_DIR"/*.service; do
      [[ -f $f ]] || continue
      u=$(basename "$f" .service); st=$(state_of "$u")
      printf '%-30s loaded %-10s %s\n' "$u.service" "$st" "$([[ $st == active ]] && echo running || echo dead)"
    done ;;
  *) err "Unknown command verb '$CMD' (runbook lab systemctl stand-in)."; rc=1 ;;
esac
exit "$rc"
