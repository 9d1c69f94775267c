// Build step (npm run build): compile every schema to standalone validator code once, so the CLI
// does not pay ajv's compile time on every run. Each file records the sha256 of the schema it was
// made from; schema.ts falls back to compiling at run time when a schema changed since the build.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import standaloneCode from 'ajv/dist/standalone/index.js';
import { newAjv, withoutModuleRefs } from './ajv-options.js';
import { PACKAGE_ROOT } from '../package/root.js';

export const PRECOMPILED_DIR = join(PACKAGE_ROOT, 'dist', 'validators');

export function schemaNames(): string[] {
  const modules = readdirSync(join(PACKAGE_ROOT, 'schemas', 'modules'))
    .filter((f) => f.endsWith('.schema.json'))
    .map((f) => `modules/${f.replace(/\.schema\.json$/, '')}`);
  return ['playbook', 'inventory', 'plan', ...modules.sort()];
}

export function precompiledFile(name: string): string {
  return join(PRECOMPILED_DIR, `${name.replace('/', '__')}.cjs`);
}

function main(): void {
  mkdirSync(PRECOMPILED_DIR, { recursive: true });
  for (const name of schemaNames()) {
    const text = readFileSync(join(PACKAGE_ROOT, 'schemas', `${name}.schema.json`), 'utf8');
    const ajv = newAjv({ code: { source: true } });
    const raw = JSON.parse(text) as object;
    const fn = ajv.compile((name === 'playbook' ? withoutModuleRefs(raw) : raw) as object);
    const sha = createHash('sha256').update(text).digest('hex');
    const gen = (standaloneCode as unknown as (a: typeof ajv, f: typeof fn) => string)(ajv, fn);
    writeFileSync(precompiledFile(name), `${gen}\nmodule.exports.schemaSha256 = ${JSON.stringify(sha)};\n`);
  }
}

main();
