// Where the test fixtures live, and the bad-input corpus (test/fixtures/bad/cases.json) typed once.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository (compiled tests run from dist/test/support). */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const BIN = join(ROOT, 'bin', 'runbook.js');
export const BAD = join(ROOT, 'test', 'fixtures', 'bad');
export const GOOD = join(ROOT, 'test', 'fixtures', 'good');
/** Fixtures name the canary /tmp/runbook-canary-XXXXXXXXXXXX; each run swaps in 12 random hex digits (same length, same columns). */
export const CANARY_TOKEN = 'XXXXXXXXXXXX';

/** One case of the bad-input corpus: the input and the diagnostic it must get. */
export interface BadCase {
  name: string;
  playbook?: string;
  inventory?: string;
  extraVars?: string[];
  code: string;
  line: number;
  col: number;
  alsoCodes?: string[];
  /** A substring the primary diagnostic's hint must contain. */
  hint?: string;
}

export function badCases(): BadCase[] {
  return JSON.parse(readFileSync(join(BAD, 'cases.json'), 'utf8')) as BadCase[];
}
