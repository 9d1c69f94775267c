// The PID reports a remote command's wrapper prints on stderr (remote-command.ts), split out of
// the stream so the command's own stderr passes through unchanged.
import { PID_MARK } from './remote-command.js';

/** Bytes of stderr scanned for PID markers before giving up on them. */
const MAX_MARKER_SCAN = 64 * 1024;

/**
 * Splits the PID marker lines out of a stderr stream; everything else passes through unchanged
 * and in order. Markers may appear after other output (e.g. a noisy ~/.bashrc), even mid-line.
 * Scanning ends ("settles") once the expected number of PIDs is known, or after
 * MAX_MARKER_SCAN bytes of other output, or when `settle()` is called.
 */
export class PidMarkerFilter {
  readonly pids: number[] = [];
  private held = Buffer.alloc(0);
  private scanning: boolean;
  private scanned = 0;
  private readonly waiters: (() => void)[] = [];

  constructor(
    private readonly expected: number,
    private readonly out: (chunk: Buffer) => void,
  ) {
    this.scanning = expected > 0;
  }

  /** Call `cb` once scanning has settled (at once if it already has). */
  whenSettled(cb: () => void): void {
    if (this.scanning) this.waiters.push(cb);
    else cb();
  }

  push(chunk: Buffer): void {
    if (!this.scanning) {
      this.out(chunk);
      return;
    }
    let buf = this.held.length > 0 ? Buffer.concat([this.held, chunk]) : chunk;
    this.held = Buffer.alloc(0);
    while (this.scanning) {
      const at = buf.indexOf(PID_MARK);
      if (at === -1) {
        // Hold back a tail that could be the start of a marker.
        let keep = 0;
        for (let k = Math.min(PID_MARK.length - 1, buf.length); k > 0; k--) {
          if (buf.subarray(buf.length - k).equals(PID_MARK.subarray(0, k))) {
            keep = k;
            break;
          }
        }
        this.pass(buf.subarray(0, buf.length - keep));
        buf = buf.subarray(buf.length - keep);
        break;
      }
      const nl = buf.indexOf(0x0a, at);
      if (nl === -1) {
        this.pass(buf.subarray(0, at));
        buf = buf.subarray(at);
        if (buf.length > 64) this.settle(); // too long for a marker line
        break;
      }
      this.pass(buf.subarray(0, at));
      const pid = Number(buf.subarray(at + PID_MARK.length, nl).toString('latin1'));
      if (Number.isInteger(pid) && pid > 1) this.pids.push(pid);
      buf = buf.subarray(nl + 1);
      if (this.pids.length >= this.expected) this.settle();
    }
    if (this.scanning) this.held = Buffer.from(buf);
    else if (buf.length > 0) this.out(buf);
  }

  /** Stop scanning, release anything held and notify waiters. */
  settle(): void {
    if (!this.scanning) return;
    this.scanning = false;
    const held = this.held;
    this.held = Buffer.alloc(0);
    if (held.length > 0) this.out(held);
    for (const cb of this.waiters.splice(0)) cb();
  }

  private pass(b: Buffer): void {
    if (b.length === 0) return;
    this.scanned += b.length;
    this.out(b);
    if (this.scanned > MAX_MARKER_SCAN) this.settle();
  }
}
