// Where runbook is installed (the folder holding package.json, schemas/, playbooks/): a pure
// helper so validate, cli and tests find shipped files without importing each other.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** dist/engine/package/root.js → three folders up. */
export const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
