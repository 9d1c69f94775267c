// A fresh scratch directory for every test of a describe, removed after it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Registers beforeEach/afterEach in the calling describe; `ready` receives each test's directory. */
export function scratchDirEach(prefix: string, ready: (dir: string) => void): void {
  let dir: string | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), prefix));
    ready(dir);
  });
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
}
