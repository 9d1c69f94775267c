// Playbook fixtures of the tests, as YAML files under test/fixtures/playbooks (read and reviewed as
// playbooks, not as strings inside TypeScript), loaded by name.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Compiled tests run from dist/test/support; the fixtures stay in the source tree. */
const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/fixtures/playbooks');

/** The path of test/fixtures/playbooks/NAME.yml. */
export function playbookPath(name: string): string {
  return path.join(FIXTURES, `${name}.yml`);
}

/** The text of test/fixtures/playbooks/NAME.yml (for tests that write a copy, or an edited one). */
export function playbookText(name: string): string {
  return readFileSync(playbookPath(name), 'utf8');
}
