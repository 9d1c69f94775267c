// Send a controller file once and let the members relay it: a pipelined chain in the given order.
// The controller streams the wire bytes (zstd-compressed when that pays) to the first member over
// its SSH connection; every other member pulls them from the member before it over TCP (a
// listener on that member's peer address, a one-time token per listener), writing to disk and
// serving its own downstream while it receives. Every member decodes, hashes and installs its own
// copy (agent.ts), so the controller's link carries each byte once and the members' links work
// in parallel.
//
// Healing: a member whose upstream breaks resumes from the nearest earlier member still serving,
// or from the controller, at the offset it reached (every spool holds the same wire bytes). A
// member whose agent dies is started again once, from an earlier member. A member that cannot get
// a verified copy fails on its own; the others go on. No credential is left behind: tokens live
// only in the agents' memory, the agents live only as long as the controller's exec channels.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { open, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import { PassThrough } from 'node:stream';
import { errorText, RunError } from '../../model/errors.js';
import { shq } from '../../shell/quote.js';
import type { ExecResult, Transport } from '../transport.js';
import { RELAY_AGENT } from './agent.js';
import { CHUNK, Spool, ZSTD_ARGS } from './spool.js';

export interface RelayMember {
  host: string;
  transport: Transport;
  /** The address this member's listener binds and others connect to (its etcd peer address). */
  listen: string;
  dest: string;
  mode: string;
  become?: boolean;
}

export type Compression = 'auto' | 'zstd' | 'off';

export interface RelayOptions {
  src: string;
  sha256: string;
  compress: Compression;
  signal: AbortSignal;
  timeoutMs: number;
  /** A line for the operator (chain, codec decision with its measurements, heals, totals). */
  log: (line: string) => void;
}

export type RelayResult = { ok: true; bytes: number; sha256: string } | { ok: false; error: RunError };

export interface RelayReport {
  /** Set when the relay could not be used (a member without python3): the caller copies in parallel. */
  fallback?: string;
  codec: 'zstd' | 'none';
  /** Bytes the controller sent (the wire form of the file once) and the file's size. */
  wireBytes: number;
  fileBytes: number;
  results: Map<string, RelayResult>;
}

const SAMPLE_CHUNKS = 8;
const SAMPLE_CHUNK = 2 * 1024 * 1024;
const LINK_PROBE = 16 * 1024 * 1024;

function frame(b: Buffer): Buffer {
  const h = Buffer.allocUnsafe(4);
  h.writeUInt32BE(b.length, 0);
  return Buffer.concat([h, b]);
}

async function write(s: PassThrough, b: Buffer | string): Promise<void> {
  if (s.destroyed || s.writableEnded) throw new Error('the member agent is gone');
  if (s.write(b)) return;
  await new Promise<void>((resolve) => {
    const done = (): void => {
      s.off('drain', done);
      s.off('close', done);
      resolve();
    };
    s.on('drain', done);
    s.on('close', done);
  });
}

async function localHasZstd(): Promise<boolean> {
  return new Promise((resolve) => {
    const c = spawn('zstd', ['--version'], { stdio: 'ignore' });
    c.on('error', () => resolve(false));
    c.on('exit', (code) => resolve(code === 0));
  });
}

/** Compress samples spread over the file: ratio and this controller's compression speed (bytes/s). */
async function sampleCompression(src: string, size: number): Promise<{ ratio: number; speed: number }> {
  const fd = await open(src, 'r');
  const parts: Buffer[] = [];
  try {
    const n = size <= SAMPLE_CHUNKS * SAMPLE_CHUNK ? 1 : SAMPLE_CHUNKS;
    const len = n === 1 ? size : SAMPLE_CHUNK;
    for (let i = 0; i < n; i++) {
      const b = Buffer.allocUnsafe(len);
      const at = n === 1 ? 0 : Math.floor(((size - len) * i) / (n - 1));
      const { bytesRead } = await fd.read(b, 0, len, at);
      parts.push(b.subarray(0, bytesRead));
    }
  } finally {
    await fd.close();
  }
  const input = Buffer.concat(parts);
  const t0 = performance.now();
  const c = spawn('zstd', ZSTD_ARGS, { stdio: ['pipe', 'pipe', 'ignore'] });
  let outBytes = 0;
  c.stdout.on('data', (b: Buffer) => (outBytes += b.length));
  c.stdin.end(input);
  const [code] = (await once(c, 'close')) as [number | null];
  if (code !== 0) return { ratio: 1, speed: 0 };
  const sec = Math.max((performance.now() - t0) / 1000, 1e-3);
  return { ratio: input.length / Math.max(outBytes, 1), speed: input.length / sec };
}

/** Bytes per second the controller's connection to `t` carries: a small and a large burst of random bytes, the difference timed (not the channel's start). */
async function linkSpeed(t: Transport, signal: AbortSignal): Promise<number> {
  const burst = async (n: number): Promise<number> => {
    const t0 = performance.now();
    const r = await t.exec('cat > /dev/null', { stdin: randomBytes(n), signal, timeoutMs: 120_000 });
    if (r.code !== 0) throw new RunError('TRANSFER_FAILED', `${t.host}: measuring the link failed (exit ${String(r.code)})`);
    return performance.now() - t0;
  };
  const smallBytes = 256 * 1024;
  const small = await burst(smallBytes);
  // The large burst is sized to take about half a second at the small one's (pessimistic) rate: cheap on a slow link, long enough to time on a fast one.
  const extra = Math.min(LINK_PROBE, Math.max(1024 * 1024, Math.round((smallBytes / Math.max(small, 1)) * 500)));
  const big = await burst(smallBytes + extra);
  const ms = big - small;
  // On a busy controller the small burst can take as long as the large one: then the large one alone (a lower bound).
  return ms > big * 0.1 ? (extra / ms) * 1000 : ((smallBytes + extra) / Math.max(big, 1)) * 1000;
}

const mb = (bps: number): string => (Number.isFinite(bps) ? `${(bps / 1e6).toFixed(0)} MB/s` : 'too fast to time');

/** Why an agent's exec ended, in words (a killed agent's stderr is the shell's job report: not shown). */
function agentEnd(r: ExecResult): string {
  if (r.code === null) return r.stderr.trim() !== '' && !r.timedOut && !r.aborted ? r.stderr.trim() : 'its agent was stopped or the connection dropped';
  if (r.code > 128) return `its agent was killed (signal ${r.code - 128})`;
  return `its agent exited ${r.code}${r.stderr.trim() ? `: ${r.stderr.trim().split('\n').pop() ?? ''}` : ''}`;
}

interface Agent {
  idx: number;
  m: RelayMember;
  tmp: string;
  token: string;
  stdin: PassThrough;
  port: number | undefined;
  portWaiters: ((p: number | undefined) => void)[];
  exec: Promise<ExecResult>;
  ended: boolean;
  verified: { bytes: number; sha256: string } | undefined;
  error: string | undefined;
  /** Not chosen as an upstream any more (a downstream lost it, or it ended). */
  dropped: boolean;
  upstream: string;
}

/** Distribute `opts.src` to every member by relay; one result per member. */
export async function relayFile(members: RelayMember[], opts: RelayOptions): Promise<RelayReport> {
  const size = (await stat(opts.src)).size;
  const results = new Map<string, RelayResult>();
  const probe = await probeTools(members, opts);
  const noPython = members.filter((_, i) => !probe[i]?.has('python3')).map((m) => m.host);
  if (noPython.length > 0) return { fallback: `no python3 on ${noPython.join(', ')}`, codec: 'none', wireBytes: 0, fileBytes: size, results };
  const codec = await chooseCodec(members, probe, size, opts);

  const spool = await Spool.of(opts.src, codec);
  const t0 = performance.now();
  const chain = new RelayChain(members, opts, spool, codec, size);
  opts.log(`relay: ${members.map((m) => m.host).join(' → ')}, ${codec === 'zstd' ? 'zstd' : 'uncompressed'}, controller sends to ${members[0]?.host} only`);
  await chain.transfer();
  for (const a of chain.agents) {
    if (a.verified && a.verified.sha256 === opts.sha256) results.set(a.m.host, { ok: true, ...a.verified });
    else {
      await cleanupTmp(a);
      results.set(a.m.host, {
        ok: false,
        error: new RunError('TRANSFER_FAILED', `${a.m.host}: put ${a.m.dest}: ${a.error ?? 'no verified copy'} (relayed)`),
      });
    }
  }
  const sec = (performance.now() - t0) / 1000;
  opts.log(
    `relay: ${[...results.values()].filter((r) => r.ok).length}/${members.length} verified in ${sec.toFixed(1)} s; controller sent ${spool.written} bytes ` +
      `for a ${size}-byte file (ratio ${(size / Math.max(spool.written, 1)).toFixed(2)}×)${chain.heals > 0 ? `, ${chain.heals} heal(s)` : ''}`,
  );
  return { codec, wireBytes: spool.written, fileBytes: size, results };
}

/** Which of python3 and zstd each member has (in member order). */
async function probeTools(members: RelayMember[], opts: RelayOptions): Promise<Set<string>[]> {
  return Promise.all(
    members.map(async (m) => {
      const r = await m.transport.exec('for t in python3 zstd; do command -v "$t" >/dev/null 2>&1 && echo "$t"; done; :', {
        signal: opts.signal,
        timeoutMs: 30_000,
        ...(m.become !== undefined ? { become: m.become } : {}),
      });
      return new Set(r.stdout.split('\n').map((l) => l.trim()));
    }),
  );
}

/** zstd or none: off when asked, or when a member or the controller has no zstd; with `auto`, on when it pays (measured). */
async function chooseCodec(members: RelayMember[], probe: Set<string>[], size: number, opts: RelayOptions): Promise<'zstd' | 'none'> {
  let codec: 'zstd' | 'none' = 'none';
  const noZstd = members.filter((_, i) => !probe[i]?.has('zstd')).map((m) => m.host);
  if (opts.compress !== 'off') {
    if (noZstd.length > 0) opts.log(`relay: compression off: no zstd on ${noZstd.join(', ')}`);
    else if (!(await localHasZstd())) opts.log('relay: compression off: no zstd on the controller');
    else if (opts.compress === 'zstd') codec = 'zstd';
    else {
      // Pays when zstd moves more file bytes per second than the link carries raw.
      const [{ ratio, speed }, link] = await Promise.all([sampleCompression(opts.src, size), linkSpeed((members[0] as RelayMember).transport, opts.signal)]);
      const withZstd = Math.min(speed, link * ratio);
      codec = ratio >= 1.1 && withZstd >= link * 1.2 ? 'zstd' : 'none';
      opts.log(
        `relay: compression ${codec === 'zstd' ? 'on' : 'off'} (sample ratio ${ratio.toFixed(2)}×, zstd ${mb(speed)} here, ` +
          `link to ${members[0]?.host} ${mb(link)}: ${mb(withZstd)} with zstd vs ${mb(link)} without)`,
      );
    }
  }
  return codec;
}

/** Remove a member's partial copy (and its wire spool). */
async function cleanupTmp(a: Agent): Promise<void> {
  try {
    await a.m.transport.exec(`rm -f -- ${shq(a.tmp)} ${shq(`${a.tmp}.wire`)}`, {
      timeoutMs: 30_000,
      ...(a.m.become !== undefined ? { become: a.m.become } : {}),
    });
  } catch {
    // unreachable: nothing more to do from here
  }
}

/** One relay run: the members' agents, where each pulls from, how they heal, and when all are done. */
class RelayChain {
  readonly agents: Agent[] = [];
  heals = 0;
  private started = false;
  private finishing = false;
  private readonly initialPumps: (() => void)[] = [];
  private readonly maxHeals: number;
  private settle: () => void = () => undefined;
  private readonly allSettled: Promise<void>;
  private readonly members: RelayMember[];
  private readonly opts: RelayOptions;
  private readonly spool: Spool;
  private readonly codec: 'zstd' | 'none';
  private readonly size: number;

  constructor(members: RelayMember[], opts: RelayOptions, spool: Spool, codec: 'zstd' | 'none', size: number) {
    this.members = members;
    this.opts = opts;
    this.spool = spool;
    this.codec = codec;
    this.size = size;
    this.maxHeals = members.length * 2 + 2;
    this.allSettled = new Promise<void>((resolve) => (this.settle = resolve));
  }

  /** Start every agent, point each at its upstream, stream once all listen; wait until every member has its copy or has failed. */
  async transfer(): Promise<void> {
    const agents = this.agents;
    try {
      this.members.forEach((m, i) => agents.push(this.startAgent(i, m, 0)));
      await Promise.all(agents.map((a) => this.point(a, 0, true)));
      await Promise.all(agents.map((a) => this.portOf(a)));
      this.started = true;
      for (const go of this.initialPumps.splice(0)) go();
      this.check();
      await this.allSettled;
      this.finishing = true;
      // Every member has its copy or has failed: no one needs a listener any more.
      for (const a of agents) if (!a.ended) a.stdin.end(`${JSON.stringify({ finish: true })}\n`);
      await Promise.all(agents.map((a) => a.exec));
    } finally {
      this.finishing = true;
      for (const a of agents) if (!a.stdin.destroyed) a.stdin.end();
      await this.spool.close();
    }
  }

  private check(): void {
    if (this.agents.every((a) => a.ended || a.verified)) this.settle();
  }

  private async pump(a: Agent, offset: number): Promise<void> {
    try {
      for await (const b of this.spool.from(offset)) await write(a.stdin, frame(b));
      await write(a.stdin, frame(Buffer.alloc(0)));
    } catch (e) {
      a.error ??= `the controller's stream failed: ${(e as Error).message}`;
      a.stdin.destroy();
    }
  }

  private portOf(a: Agent): Promise<number | undefined> {
    return a.port !== undefined || a.ended ? Promise.resolve(a.port) : new Promise((resolve) => a.portWaiters.push(resolve));
  }

  /** The nearest earlier member still serving, or the controller. */
  private async upstreamFor(idx: number): Promise<{ up: Record<string, unknown> | 'stdin'; name: string }> {
    for (let k = idx - 1; k >= 0; k--) {
      const u = this.agents[k] as Agent;
      if (u.dropped || u.ended) continue;
      const port = await this.portOf(u);
      if (port === undefined || u.dropped || u.ended) continue;
      return { up: { host: u.m.listen, port, token: u.token }, name: u.m.host };
    }
    return { up: 'stdin', name: 'the controller' };
  }

  /** Tell an agent where to pull from (its header the first time); a gone agent's own exec end reports it. */
  private async point(a: Agent, offset: number, first: boolean): Promise<void> {
    try {
      const { up, name } = await this.upstreamFor(a.idx);
      a.upstream = name;
      if (first) {
        const header = {
          dest: a.m.dest,
          tmp: a.tmp,
          mode: a.m.mode,
          sha256: this.opts.sha256,
          codec: this.codec,
          size: this.size,
          listen: a.m.listen,
          token: a.token,
          upstream: up,
        };
        await write(a.stdin, `${JSON.stringify(header)}\n`);
      } else await write(a.stdin, `${JSON.stringify({ upstream: up })}\n`);
      if (up === 'stdin') {
        // The first stream waits until every agent listens: its bytes would delay the other headers on the controller's link.
        if (first && !this.started) this.initialPumps.push(() => void this.pump(a, offset));
        else void this.pump(a, offset);
      }
    } catch (e) {
      a.error ??= errorText(e);
    }
  }

  /** An agent's event line: its listener's port, its verified copy, its error, or a lost upstream (healed from an earlier one). */
  private onEvent(a: Agent, ev: Record<string, unknown>): void {
    switch (ev.ev) {
      case 'listening':
        a.port = Number(ev.port);
        for (const w of a.portWaiters.splice(0)) w(a.port);
        break;
      case 'verified':
        a.verified = { bytes: Number(ev.bytes), sha256: String(ev.sha256) };
        this.check();
        break;
      case 'error':
        a.error = String(ev.why);
        break;
      case 'lost': {
        const lostFrom = this.agents.find((u) => u.m.host === a.upstream);
        if (lostFrom) lostFrom.dropped = true;
        if (++this.heals > this.maxHeals) {
          a.error = `gave up after ${this.maxHeals} heals (last: ${String(ev.why)})`;
          a.stdin.end();
          break;
        }
        const offset = Number(ev.offset);
        void this.point(a, offset, false).then(() =>
          this.opts.log(`relay: ${a.m.host} lost ${lostFrom?.m.host ?? 'its upstream'} (${String(ev.why)}); resumes at byte ${offset} from ${a.upstream}`),
        );
        break;
      }
    }
  }

  /** Start a member's agent; when it ends without a copy (killed, out of memory) it is started once more, from an earlier member. */
  private startAgent(idx: number, m: RelayMember, restarts: number): Agent {
    const opts = this.opts;
    const stdin = new PassThrough({ highWaterMark: 4 * CHUNK });
    const a: Agent = {
      idx,
      m,
      tmp: posix.join(posix.dirname(m.dest), `.${posix.basename(m.dest)}.runbook-relay-${randomBytes(6).toString('hex')}`),
      token: randomBytes(24).toString('hex'),
      stdin,
      port: undefined,
      portWaiters: [],
      exec: Promise.resolve({} as ExecResult),
      ended: false,
      verified: undefined,
      error: undefined,
      dropped: false,
      upstream: '',
    };
    let pending = '';
    a.exec = m.transport.exec(`python3 -c ${shq(RELAY_AGENT)}`, {
      stdin,
      signal: opts.signal,
      timeoutMs: opts.timeoutMs,
      maxOutputBytes: 256 * 1024,
      ...(m.become !== undefined ? { become: m.become } : {}),
      onStdout: (chunk) => {
        pending += chunk.toString('utf8');
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        for (const l of lines) {
          try {
            this.onEvent(a, JSON.parse(l) as Record<string, unknown>);
          } catch {
            // not an event line
          }
        }
      },
    });
    // An unreachable host is an ended agent like any other (its step fails with the reason).
    a.exec = a.exec.catch((e: unknown): ExecResult => ({
      code: null,
      stdout: '',
      stderr: errorText(e),
      truncated: false,
      timedOut: false,
      aborted: false,
      durationMs: 0,
    }));
    void a.exec.then((r) => {
      a.ended = true;
      a.dropped = true;
      // Nothing reads its stdin any more: writers waiting on it go on (and fail).
      a.stdin.destroy();
      for (const w of a.portWaiters.splice(0)) w(undefined);
      if (!a.verified && !opts.signal.aborted && !this.finishing && restarts < 1 && r.code !== 0) {
        // The agent died (killed, out of memory): once more, from an earlier member.
        const why = a.error ?? agentEnd(r);
        opts.log(`relay: ${m.host} dropped out (${why}); starting it again`);
        const again = this.startAgent(idx, m, restarts + 1);
        this.agents[idx] = again;
        void cleanupTmp(a);
        void this.point(again, 0, true);
        return;
      }
      if (!a.verified) a.error ??= agentEnd(r);
      this.check();
    });
    return a;
  }
}
