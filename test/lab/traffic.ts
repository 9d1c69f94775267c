// Client traffic for the lab: while a playbook runs, write keys (each unique, value known), read
// some back, and keep a watch, through etcd's v3 JSON gateway on the members' client URLs (TLS with
// the lab's client certificate when the lab has it). Bounded in count and time; stops by itself.
// Every acknowledged write (HTTP 200 with a revision) is recorded, so a check afterwards can prove
// none was lost, and the longest stretch without any acknowledged write is the write stall.
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';

export interface TrafficTls {
  ca: string;
  cert: string;
  key: string;
}

export interface TrafficOptions {
  /** Client URLs of the members (writes go round-robin, moving on when one fails). */
  endpoints: string[];
  tls?: TrafficTls;
  /** Every key written starts with this (e.g. /traffic/<test>/). */
  prefix: string;
  /** Target writes per second. */
  ratePerSec?: number;
  /** Stop after this many write attempts … */
  maxWrites?: number;
  /** … or after this long, whichever comes first. */
  maxMs?: number;
  /** Requests that do not answer within this are failures (and retried on the next endpoint). */
  requestTimeoutMs?: number;
}

export interface AckedWrite {
  key: string;
  value: string;
  revision: number;
  at: number;
}

export interface TrafficReport {
  attempts: number;
  acked: AckedWrite[];
  /** Writes that got no acknowledgement (their outcome is unknown: they may or may not be there). */
  unacked: number;
  reads: number;
  /** Reads that returned a value other than the acknowledged one. */
  staleReads: string[];
  /** Longest time between two acknowledged writes (or from the start / to the end), ms. */
  longestStallMs: number;
  /** Sum of the gaps longer than one second without an acknowledged write, ms. */
  unavailableMs: number;
  watch: { events: number; lastRevision: number; compacted: boolean; restarts: number };
  durationMs: number;
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string | undefined): string => Buffer.from(s ?? '', 'base64').toString('utf8');

function prefixEnd(prefix: string): string {
  const buf = Buffer.from(prefix, 'utf8');
  const end = Buffer.from(buf);
  end[end.length - 1] = (end[end.length - 1] ?? 0) + 1;
  return end.toString('base64');
}

interface Agents {
  tls?: { ca: Buffer; cert: Buffer; key: Buffer };
}

function agentsFor(tls?: TrafficTls): Agents {
  return tls ? { tls: { ca: readFileSync(tls.ca), cert: readFileSync(tls.cert), key: readFileSync(tls.key) } } : {};
}

/** POST a v3 gateway call; resolves with the JSON body, rejects on transport errors, non-200 or an error body. */
export function gateway<T>(endpoint: string, api: string, body: unknown, a: Agents, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const url = new URL(`${endpoint}/v3/${api}`);
    const payload = JSON.stringify(body);
    const opts: https.RequestOptions = {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      timeout: timeoutMs,
    };
    if (url.protocol === 'https:' && a.tls) Object.assign(opts, a.tls);
    const req = (url.protocol === 'https:' ? https : http).request(url, opts, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        try {
          const j = JSON.parse(text) as T & { error?: string; message?: string };
          if (res.statusCode !== 200 || j.error !== undefined) reject(new Error(`${api}: ${j.error ?? j.message ?? String(res.statusCode)}`));
          else resolve(j);
        } catch (e) {
          reject(e instanceof Error ? e : new Error(String(e)));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${api}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** A watch on the prefix through the gateway's streaming /v3/watch, restarted from the last seen revision. */
function watchPrefix(o: TrafficOptions, a: Agents, stats: TrafficReport['watch'], stopped: () => boolean, firstAcked: () => number): () => void {
  let req: http.ClientRequest | undefined;
  let i = 0;
  const start = (): void => {
    if (stopped()) return;
    const endpoint = o.endpoints[i++ % o.endpoints.length] ?? '';
    const url = new URL(`${endpoint}/v3/watch`);
    const create = {
      create_request: {
        key: b64(o.prefix),
        range_end: prefixEnd(o.prefix),
        // Resume after the last event seen; before any event, from the first acknowledged write (a watch
        // that could only be created once the cluster served again would otherwise start after it); before
        // any acknowledged write, from revision 1: a watch created without a start revision starts at the
        // current one, and a write acknowledged while that create was on its way was missed (force-new-cluster:
        // 628 events for 629 writes). The prefix is new, so nothing older is replayed; history compacted away
        // cancels the watch, which then resumes at the compaction (below).
        start_revision: String(stats.lastRevision > 0 ? stats.lastRevision + 1 : firstAcked() > 0 ? firstAcked() : 1),
      },
    };
    const opts: https.RequestOptions = { method: 'POST', headers: { 'content-type': 'application/json' } };
    if (url.protocol === 'https:' && a.tls) Object.assign(opts, a.tls);
    // One restart per stream, whichever of its end, errors or a cancellation comes first (two would run two watches).
    let over = false;
    const again = (): void => {
      if (over) return;
      over = true;
      restart();
    };
    const thisReq = (url.protocol === 'https:' ? https : http).request(url, opts, (res) => {
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        buf += c;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (!line) continue;
          try {
            const r = (JSON.parse(line) as { result?: { compact_revision?: string; canceled?: boolean; events?: { kv?: { mod_revision?: string } }[] } })
              .result;
            for (const e of r?.events ?? []) {
              stats.events++;
              stats.lastRevision = Math.max(stats.lastRevision, Number(e.kv?.mod_revision ?? 0));
            }
            if (r?.compact_revision !== undefined && Number(r.compact_revision) > 0) {
              // Asked for history that is compacted away (after a compaction, or a restore with
              // --mark-compacted): a real client relists; this one resumes from the compaction.
              stats.compacted = true;
              stats.lastRevision = Math.max(stats.lastRevision, Number(r.compact_revision) - 1);
            }
            // A cancelled watch's stream stays open on the gateway: close it and watch again.
            if (r?.canceled === true) {
              thisReq.destroy();
              again();
              return;
            }
          } catch {
            // a partial or unexpected line: the next one tells
          }
        }
      });
      res.on('end', again);
      res.on('error', again);
    });
    thisReq.on('error', again);
    thisReq.end(JSON.stringify(create));
    req = thisReq;
  };
  const restart = (): void => {
    if (stopped()) return;
    stats.restarts++;
    setTimeout(start, 200);
  };
  start();
  return () => req?.destroy();
}

/** Start the traffic; `stop()` (or the bounds) ends it and returns the report. */
export function startTraffic(o: TrafficOptions): { stop: () => Promise<TrafficReport>; done: Promise<TrafficReport>; acked: () => number } {
  const a = agentsFor(o.tls);
  const rate = o.ratePerSec ?? 50;
  const maxWrites = o.maxWrites ?? 100_000;
  const maxMs = o.maxMs ?? 300_000;
  const timeout = o.requestTimeoutMs ?? 2000;
  const t0 = Date.now();
  const report: TrafficReport = {
    attempts: 0,
    acked: [],
    unacked: 0,
    reads: 0,
    staleReads: [],
    longestStallMs: 0,
    unavailableMs: 0,
    watch: { events: 0, lastRevision: 0, compacted: false, restarts: 0 },
    durationMs: 0,
  };
  let stopping = false;
  const stopWatch = watchPrefix(
    o,
    a,
    report.watch,
    () => stopping,
    () => report.acked[0]?.revision ?? 0,
  );
  let lastAck = t0;
  let ep = 0;
  const noteGap = (now: number): void => {
    const gap = now - lastAck;
    report.longestStallMs = Math.max(report.longestStallMs, gap);
    if (gap > 1000) report.unavailableMs += gap;
  };

  const writeOne = async (n: number): Promise<void> => {
    const key = `${o.prefix}${String(n).padStart(7, '0')}`;
    const value = `v-${n}-${t0}`;
    report.attempts++;
    // One write, tried on up to every member in turn: acknowledged once, or not at all.
    for (let tries = 0; tries < o.endpoints.length; tries++) {
      const endpoint = o.endpoints[ep % o.endpoints.length] ?? '';
      try {
        const r = await gateway<{ header: { revision: string } }>(endpoint, 'kv/put', { key: b64(key), value: b64(value) }, a, timeout);
        const now = Date.now();
        noteGap(now);
        lastAck = now;
        report.acked.push({ key, value, revision: Number(r.header.revision), at: now });
        return;
      } catch {
        ep++; // this member failed or timed out: the next one gets the retry (a put is idempotent here: same key, same value)
      }
    }
    report.unacked++;
  };

  const readOne = async (): Promise<void> => {
    const w = report.acked[Math.floor(Math.random() * report.acked.length)];
    if (!w) return;
    try {
      const r = await gateway<{ kvs?: { value?: string; mod_revision?: string }[] }>(
        o.endpoints[ep % o.endpoints.length] ?? '',
        'kv/range',
        { key: b64(w.key) },
        a,
        timeout,
      );
      report.reads++;
      const kv = r.kvs?.[0];
      // A later acknowledged write never overwrites this key (keys are unique): any other value is wrong.
      if (!kv || unb64(kv.value) !== w.value) report.staleReads.push(`${w.key}: ${kv ? unb64(kv.value) : 'missing'}`);
    } catch {
      // an unavailable read is not a wrong read
    }
  };

  const done = (async (): Promise<TrafficReport> => {
    const interval = 1000 / rate;
    let n = 0;
    while (!stopping && n < maxWrites && Date.now() - t0 < maxMs) {
      const due = t0 + n * interval;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      await writeOne(n);
      if (n % 5 === 4) await readOne();
      n++;
    }
    const end = Date.now();
    // Let the watch deliver the last acknowledged writes before closing it: up to 15 s, since a watch
    // that lost its member (a restart during the playbook) reconnects every 200 ms and then replays.
    const lastAcked = Math.max(0, ...report.acked.map((w) => w.revision));
    for (let i = 0; i < 150 && report.watch.lastRevision < lastAcked; i++) await new Promise((r) => setTimeout(r, 100));
    stopping = true;
    stopWatch();
    noteGap(end);
    report.durationMs = end - t0;
    return report;
  })();
  return {
    done,
    /** Writes acknowledged so far (to wait for the traffic to be flowing before a fault). */
    acked: () => report.acked.length,
    stop: () => {
      stopping = true;
      return done;
    },
  };
}

/**
 * Which acknowledged writes a member is missing or holds with another value, read from that
 * member alone (serializable). `upToRevision`: only writes at or below it must be there (a
 * restore from a snapshot taken at that revision).
 */
export async function missingOn(endpoint: string, report: TrafficReport, prefix: string, tls?: TrafficTls, upToRevision = Infinity): Promise<string[]> {
  const a = agentsFor(tls);
  const r = await gateway<{ kvs?: { key: string; value?: string }[] }>(
    endpoint,
    'kv/range',
    { key: b64(prefix), range_end: prefixEnd(prefix), serializable: true },
    a,
    10_000,
  );
  const have = new Map((r.kvs ?? []).map((kv) => [unb64(kv.key), unb64(kv.value)]));
  return report.acked
    .filter((w) => w.revision <= upToRevision && have.get(w.key) !== w.value)
    .map((w) => `${w.key}@${w.revision}: ${have.has(w.key) ? `holds ${String(have.get(w.key))}` : 'missing'}`);
}
