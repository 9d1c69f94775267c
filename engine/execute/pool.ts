// One persistent transport per target host for the whole run: created on first use, connected
// once (a failed connect stays failed: the transport caches it), closed at the end of the run.
import type { Transport } from '../transports/transport.js';

export class TransportPool {
  private readonly open = new Map<string, Transport>();

  constructor(private readonly factory: (host: string) => Transport) {}

  /** The connected transport of `host`; throws UnreachableError when it cannot be reached. */
  async get(host: string): Promise<Transport> {
    let t = this.open.get(host);
    if (!t) {
      t = this.factory(host);
      this.open.set(host, t);
    }
    await t.connect();
    return t;
  }

  async closeAll(): Promise<void> {
    const all = [...this.open.values()];
    this.open.clear();
    await Promise.allSettled(all.map((t) => t.close()));
  }
}
