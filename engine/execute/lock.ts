// The run lock: one apply per cluster at a time.
//
//   controller  <lockDir>/<cluster>.lock, created with O_EXCL (mode 0600): run id, pid, host, times
//   each host   mkdir /run/runbook-lock.<cluster> (atomic) + an `owner` file, one exec per host
//
// A lock held by a live run refuses the new one (exit 4, naming the holder). A stale lock (expired,
// or its controller pid is gone on this controller) refuses too, with instructions, unless
// --break-lock (or --resume of the very run that left it). Locks are removed at the end of the run,
// failed or interrupted ones included.
import { getMaxListeners, setMaxListeners } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, linkSync, mkdirSync, chmodSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import * as path from 'node:path';
import { shq } from '../shell/quote.js';
import type { ExecResult, Transport } from '../transports/transport.js';
import { RunError } from '../model/errors.js';

/** How long a lock is good for without its run ending (a crashed controller's lock expires). */
export const LOCK_TTL_MS = 12 * 3600 * 1000;

export interface LockOwner {
  runId: string;
  pid: number;
  host: string;
  started: string;
  expires: string;
}

export type Holder = LockOwner & { where: string; stale?: string };

export function lockOwner(runId: string, now = new Date()): LockOwner {
  return { runId, pid: process.pid, host: hostname(), started: now.toISOString(), expires: new Date(now.getTime() + LOCK_TTL_MS).toISOString() };
}

function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid < 1) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Why a lock is stale, or undefined while its holder may still be running. */
export function staleReason(o: LockOwner, now = Date.now()): string | undefined {
  const exp = Date.parse(o.expires);
  if (!Number.isFinite(exp) || exp <= now) return `expired ${o.expires || '(no expiry)'}`;
  if (o.host === hostname() && !pidAlive(o.pid)) return `controller pid ${o.pid} is no longer running on ${o.host}`;
  return undefined;
}

function ownerLines(o: LockOwner): string {
  return `run_id=${o.runId}\ncontroller=${o.host}\npid=${o.pid}\nstarted=${o.started}\nexpires=${o.expires}\n`;
}

function parseOwner(text: string): LockOwner {
  const kv = new Map<string, string>();
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) kv.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  return {
    runId: kv.get('run_id') ?? '?',
    host: kv.get('controller') ?? '?',
    pid: Number(kv.get('pid') ?? NaN),
    started: kv.get('started') ?? '?',
    expires: kv.get('expires') ?? '',
  };
}

export function describeHolder(h: Holder): string {
  return `run ${h.runId} (pid ${Number.isFinite(h.pid) ? h.pid : '?'} on ${h.host}, since ${h.started}, expires ${h.expires || '?'}) [${h.where}]`;
}

export function remoteLockDir(cluster: string): string {
  return `/run/runbook-lock.${cluster}`;
}

/**
 * Create `file` holding `text`, atomically: false when it exists. (Created empty and then written,
 * another taker could read it empty in between, judge it stale — no expiry — and break it.)
 */
function createWithContent(file: string, text: string): boolean {
  const tmp = `${file}.new-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    return false;
  } finally {
    unlinkSync(tmp);
  }
}

/**
 * Remove the stale controller lock `file` whose content was read as `seen`, and only that one.
 * Deleting it by name let two breakers both win: the second deleted the lock the first had just
 * created. Instead one breaker is chosen (below), and it renames the lock aside to a name of this process's own (rename is atomic:
 * of two breakers, one moves the stale lock, the other finds it gone), then what was moved is
 * checked: if it is not the stale lock judged (another breaker already replaced it), it is put
 * back where it was and the caller reads the lock again.
 */
function breakLocal(file: string, seen: string): void {
  // One breaker per stale lock: the first to create this marker (named after the stale content,
  // which names its run and start time, so it never recurs) breaks it; the others read the lock
  // again and meet the winner's. The marker stays (a few bytes) so a slow breaker still loses.
  // A marker whose breaker died before finishing does not block breaking for ever.
  const marker = `${file}.broken-${createHash('sha256').update(seen).digest('hex').slice(0, 16)}`;
  try {
    const fd = openSync(marker, 'wx', 0o600);
    try {
      // The breaker's pid, then the lock it breaks (kept for whoever looks into the lock dir later).
      writeSync(fd, `${process.pid}\n${seen}`);
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    let pid = NaN;
    try {
      pid = Number(readFileSync(marker, 'utf8').split('\n')[0]?.trim() || NaN);
    } catch {
      // unreadable: treated as a breaker still at work
    }
    // Empty (its pid not written yet), unreadable or alive: another breaker is at work.
    if (!Number.isInteger(pid) || pid < 1 || pidAlive(pid) || pid === process.pid) return;
  }
  const aside = `${file}.breaking-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    renameSync(file, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return; // another breaker moved it first
    throw e;
  }
  let moved: string | undefined;
  try {
    moved = readFileSync(aside, 'utf8');
  } catch {
    moved = undefined;
  }
  if (moved !== seen) {
    // A live lock: link it back (fails only if a new lock appeared meanwhile, which then holds).
    try {
      linkSync(aside, file);
    } catch {
      // the lock now at `file` is the one the caller meets next
    }
  }
  unlinkSync(aside);
}

/**
 * Shell that removes the stale host lock `held`, and only that one (the host-side twin of
 * breakLocal): `rm -rf` by name let a second breaker delete the lock a first had just taken. The
 * directory is renamed aside to a name of this shell's own (atomic: one breaker gets it), and
 * removed only if its owner is still the stale run; otherwise it is put back (mv -T does not move
 * it into a lock directory made meanwhile; if that fails it stays aside, never deleted).
 */
function breakRemoteScript(held: LockOwner): string {
  const same = `grep -qxF ${shq(`run_id=${held.runId}`)} "$a/owner" && grep -qxF ${shq(`started=${held.started}`)} "$a/owner"`;
  // As on the controller, one breaker per stale lock: the first to make this marker directory
  // (atomic mkdir; named after the stale run) breaks it, the others just try to take the lock. A
  // marker older than a minute is a breaker that died half-way: it no longer blocks.
  const tag = createHash('sha256').update(`${held.runId}\n${held.started}`).digest('hex').slice(0, 16);
  const mv = `a="$d.breaking.$$.$(date +%s%N)"; if mv -- "$d" "$a" 2>/dev/null; then if ${same}; then rm -rf -- "$a"; else mv -T -- "$a" "$d" 2>/dev/null || true; fi; fi`;
  return `m="$d.broken.${tag}"; if mkdir -m 0700 "$m" 2>/dev/null || [ -n "$(find "$m" -maxdepth 0 -mmin +1 2>/dev/null)" ]; then touch "$m"; ${mv}; fi;`;
}

export class RunLock {
  private localFile: string | undefined;
  private readonly remote = new Map<string, { t: Transport; become: boolean }>();

  constructor(
    readonly cluster: string,
    readonly owner: LockOwner,
    private readonly lockDir: string,
  ) {}

  /** Controller side. Returns the holder when the lock is taken by someone else. */
  takeLocal(breakStale: boolean, resumes?: string): Holder | undefined {
    mkdirSync(this.lockDir, { recursive: true, mode: 0o700 });
    chmodSync(this.lockDir, 0o700);
    const file = path.join(this.lockDir, `${this.cluster}.lock`);
    for (let attempt = 0; attempt < 3; attempt++) {
      if (createWithContent(file, ownerLines(this.owner))) {
        this.localFile = file;
        return undefined;
      }
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        continue; // released in between: try again
      }
      const o = parseOwner(text);
      const stale = staleReason(o);
      const holder: Holder = { ...o, where: file, ...(stale !== undefined ? { stale } : {}) };
      if (stale === undefined || !(breakStale || o.runId === resumes)) return holder;
      breakLocal(file, text);
    }
    return { ...parseOwner(''), where: file, stale: 'lock file keeps reappearing' };
  }

  /**
   * Host side: one exec per host (reusing the run's connections). Hosts that cannot be reached
   * are left out (the executor reports them unreachable; no step runs there). Returns the holders
   * met; on any, the host locks taken here are released again.
   */
  async takeRemote(
    hosts: { name: string; transport: Transport; become: boolean }[],
    breakStale: boolean,
    resumes?: string,
    signal?: AbortSignal,
  ): Promise<Holder[]> {
    const dir = shq(remoteLockDir(this.cluster));
    // Held: wait (≤ 2 s) for its owner file to be written. A lock that vanishes meanwhile (its run
    // released it, or a breaker moved it) is tried again rather than reported with no owner: an
    // ownerless lock looks stale, and breaking it would break whatever lock took its place.
    const body =
      `n=0; while :; do if mkdir -m 0700 "$d" 2>/dev/null; then printf %s ${shq(ownerLines(this.owner))} > "$d/owner" && echo RUNBOOK-LOCK-TAKEN; exit 0; fi; ` +
      `i=0; while [ -d "$d" ] && [ ! -s "$d/owner" ] && [ $i -lt 20 ]; do sleep 0.1; i=$((i+1)); done; ` +
      `if o=$(cat "$d/owner" 2>/dev/null) || [ -d "$d" ] || [ $n -ge 5 ]; then echo RUNBOOK-LOCK-HELD; printf '%s\n' "$o"; exit 0; fi; n=$((n+1)); done`;
    const take = `d=${dir}; ${body}`;
    const attempt = async (h: { name: string; transport: Transport; become: boolean }, script: string): Promise<Holder | undefined> => {
      let r: ExecResult;
      try {
        r = await h.transport.exec(script, { timeoutMs: 30_000, become: h.become, ...(signal ? { signal } : {}) });
      } catch (e) {
        // Stopped (an interrupt) or cut after the script may have written our owner file and before
        // its reply arrived: count the lock as ours, so the release below looks (it removes only ours).
        this.remote.set(h.name, { t: h.transport, become: h.become });
        throw e;
      }
      if (r.code === 0 && r.stdout.startsWith('RUNBOOK-LOCK-TAKEN')) {
        this.remote.set(h.name, { t: h.transport, become: h.become });
        return undefined;
      }
      if (r.code === 0 && r.stdout.startsWith('RUNBOOK-LOCK-HELD')) {
        const o = parseOwner(r.stdout);
        // Two inventory hosts on one machine share its /run (several members per machine): the
        // lock another host of this very run just took there is ours, not a holder to refuse.
        if (o.runId === this.owner.runId) {
          this.remote.set(h.name, { t: h.transport, become: h.become });
          return undefined;
        }
        const stale = staleReason(o);
        return { ...o, where: `${h.name}:${remoteLockDir(this.cluster)}`, ...(stale !== undefined ? { stale } : {}) };
      }
      const why = r.stderr.trim() || r.stdout.trim();
      throw new RunError('LOCK_FAILED', `${h.name}: cannot take the run lock ${remoteLockDir(this.cluster)} (exit ${String(r.code)}): ${why}`);
    };
    // Every host is locked at once, each lock command listening on the signal: keep Node from
    // warning of a listener leak (its default limit is 10) on an inventory of more hosts.
    if (signal) setMaxListeners(Math.max(getMaxListeners(signal), hosts.length + 10), signal);
    const results = await Promise.allSettled(
      hosts.map(async (h) => {
        try {
          await h.transport.connect();
        } catch {
          // Unreachable: the run reports it; nothing runs there. (A stopped handshake is an interrupt, below.)
          if (!signal?.aborted) return undefined;
        }
        if (signal?.aborted) throw new RunError('INTERRUPTED', `${h.name}: interrupted before its run lock was taken`);
        const held = await attempt(h, take);
        if (held === undefined) return held;
        // The run being resumed left this lock (its connection dropped before it could release
        // it). Taking the controller lock already showed that run is no longer alive here.
        const resumable = resumes !== undefined && held.runId === resumes;
        if (!resumable && (held.stale === undefined || !breakStale)) return held;
        return attempt(h, `d=${dir}; ${breakRemoteScript(held)} ${body}`);
      }),
    );
    const holders: Holder[] = [];
    const errors: string[] = [];
    for (const r of results) {
      if (r.status === 'rejected') errors.push(r.reason instanceof Error ? r.reason.message : String(r.reason));
      else if (r.value) holders.push(r.value);
    }
    if (holders.length || errors.length) await this.releaseRemote();
    if (errors.length) throw new RunError('LOCK_FAILED', errors.join('\n'));
    return holders;
  }

  /** Removes the host locks this run took (only where the owner is still this run). Returns problems. */
  async releaseRemote(): Promise<string[]> {
    const dir = shq(remoteLockDir(this.cluster));
    const script = `d=${dir}; if grep -qx ${shq(`run_id=${this.owner.runId}`)} "$d/owner" 2>/dev/null; then rm -rf -- "$d"; fi`;
    const all = [...this.remote.entries()];
    this.remote.clear();
    const release = async (h: { t: Transport; become: boolean }): Promise<ExecResult> => {
      try {
        return await h.t.exec(script, { timeoutMs: 30_000, become: h.become });
      } catch (e) {
        // A connection that dropped during the run (the host is back): connect once more to give the lock back.
        const t = h.t as Transport & { reconnect?: () => Promise<void> };
        if (typeof t.reconnect !== 'function') throw e;
        await t.reconnect();
        return t.exec(script, { timeoutMs: 30_000, become: h.become });
      }
    };
    const res = await Promise.allSettled(all.map(([, h]) => release(h)));
    return res.flatMap((r, i) => {
      const name = all[i]?.[0] ?? '?';
      if (r.status === 'rejected') return [`${name}: ${r.reason instanceof Error ? r.reason.message : String(r.reason)}`];
      return r.value.code === 0 ? [] : [`${name}: exit ${String(r.value.code)} ${r.value.stderr.trim()}`];
    });
  }

  /** Controller side (synchronous: also used on a forced exit). */
  releaseLocal(): void {
    if (this.localFile === undefined) return;
    try {
      const o = parseOwner(readFileSync(this.localFile, 'utf8'));
      if (o.runId === this.owner.runId) unlinkSync(this.localFile);
    } catch {
      // already gone
    }
    this.localFile = undefined;
  }
}
