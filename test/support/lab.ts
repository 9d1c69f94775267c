// A lab for a describe block: up with a scratch directory before its tests, down (and the
// directory removed) after them, in one place instead of a before/after pair per file.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { SshSettings } from '../../engine/model/types.js';
import type { Lab } from '../lab/lab.js';

export interface SuiteLab {
  /** Starts the lab (labUp, freshLab). */
  up: () => Promise<Lab>;
  /** Stops it (labDown of its dir); runs after `beforeDown`. */
  down: () => Promise<void>;
  /** Prefix of the scratch directory under the OS temp dir. */
  tmpPrefix: string;
  /** What must end before the lab goes down (open transports). */
  beforeDown?: () => Promise<void>;
  timeoutMs?: number;
}

/** Registers the before/after hooks in the calling describe; `ready` receives the lab and the scratch dir. */
export function suiteLab(o: SuiteLab, ready: (lab: Lab, tmp: string) => void): void {
  let tmp: string | undefined;
  before(async function () {
    this.timeout(o.timeoutMs ?? 120_000);
    const lab = await o.up();
    tmp = mkdtempSync(path.join(tmpdir(), o.tmpPrefix));
    ready(lab, tmp);
  });
  after(async function () {
    this.timeout(o.timeoutMs ?? 120_000);
    await o.beforeDown?.();
    await o.down();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });
}

/** SSH settings that reach a lab host: its key, its known_hosts, strict host-key checking. */
export function labSsh(lab: Lab, over: Partial<SshSettings> = {}): SshSettings {
  return {
    user: 'root',
    port: 22,
    identityFile: lab.keyPath,
    knownHosts: lab.knownHostsPath,
    hostKeyChecking: 'strict',
    connectTimeoutSec: 5,
    keepaliveSec: 15,
    ...over,
  };
}
