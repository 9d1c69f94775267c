// The hosts of one task (and batch) that meet in a relayed put: each host's step joins, the relay
// starts once every host of the task has joined or finished its step without joining (so a host
// that failed earlier in its step is not waited for), and each step gets its own host's result.
import { RunError } from '../model/errors.js';
import { relayFile, type RelayMember, type RelayOptions, type RelayReport, type RelayResult } from '../transports/relay/relay.js';

/** One host's part of a relayed put: the relay's options and the member it delivers to. */
export interface RelayJoin extends RelayOptions {
  member: RelayMember;
}

export type JoinResult = RelayResult | { ok: 'fallback'; why: string };

export class TaskGroup {
  private readonly joined = new Map<string, { req: RelayJoin; resolve: (r: JoinResult) => void }>();
  private readonly finished = new Set<string>();
  private started = false;

  /** `concurrent`: every host's step can run at once (forks ≥ hosts); a relay needs that. */
  constructor(
    readonly hosts: string[],
    readonly concurrent: boolean,
  ) {}

  join(req: RelayJoin): Promise<JoinResult> {
    if (!this.concurrent) return Promise.resolve({ ok: 'fallback', why: `--forks is below the ${this.hosts.length} hosts of the task` });
    if (this.started) return Promise.resolve({ ok: 'fallback', why: 'the relay had already started' });
    return new Promise((resolve) => {
      this.joined.set(req.member.host, { req, resolve });
      this.maybeStart();
    });
  }

  /** A host's step ended (whether or not it joined). */
  leave(host: string): void {
    this.finished.add(host);
    this.maybeStart();
  }

  private maybeStart(): void {
    if (this.started || this.joined.size === 0) return;
    if (!this.hosts.every((h) => this.joined.has(h) || this.finished.has(h))) return;
    this.started = true;
    void this.run();
  }

  private async run(): Promise<void> {
    const entries = this.hosts.flatMap((h) => {
      const j = this.joined.get(h);
      return j ? [j] : [];
    });
    const first = (entries[0] as (typeof entries)[number]).req;
    // Only hosts asking for the same file can share one relay; any other gets its own copy.
    const same = entries.filter((e) => e.req.src === first.src && e.req.sha256 === first.sha256);
    for (const e of entries) if (!same.includes(e)) e.resolve({ ok: 'fallback', why: 'another file than the relay' });
    if (same.length < 2) {
      for (const e of same) e.resolve({ ok: 'fallback', why: 'a single host' });
      return;
    }
    let report: RelayReport;
    try {
      report = await relayFile(
        same.map((e) => e.req.member),
        { src: first.src, sha256: first.sha256, compress: first.compress, signal: first.signal, timeoutMs: first.timeoutMs, log: first.log },
      );
    } catch (e) {
      const error = e instanceof RunError ? e : new RunError('TRANSFER_FAILED', `relay: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      for (const x of same) x.resolve({ ok: false, error });
      return;
    }
    for (const x of same) {
      if (report.fallback !== undefined) x.resolve({ ok: 'fallback', why: report.fallback });
      else x.resolve(report.results.get(x.req.member.host) ?? { ok: false, error: new RunError('TRANSFER_FAILED', `${x.req.member.host}: no relay result`) });
    }
  }
}
