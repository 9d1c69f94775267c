// One set of ajv options for runtime compilation and for the validators precompiled at build time.
// ajv itself is loaded only when a schema must be compiled (the CLI normally uses precompiled
// validators, and loading ajv costs start-up time on every run).
import { createRequire } from 'node:module';
import type { Ajv, Options } from 'ajv';

export const AJV_OPTIONS: Options = { allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true, verbose: true };

const require = createRequire(import.meta.url);

export function newAjv(extra: Options = {}): Ajv {
  const { Ajv: AjvClass } = require('ajv') as { Ajv: new (o: Options) => Ajv };
  return new AjvClass({ ...AJV_OPTIONS, ...extra });
}

/**
 * The playbook schema $refs every module's args schema so editors can complete them. runbook
 * checks module args per task against the module's own schema (better positions), so for
 * validation the refs are replaced by `true`.
 */
export function withoutModuleRefs(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(withoutModuleRefs);
  if (schema && typeof schema === 'object') {
    const o = schema as Record<string, unknown>;
    if (typeof o.$ref === 'string' && o.$ref.startsWith('modules/')) return true;
    if (Array.isArray(o.oneOf) && o.oneOf.some((x) => (x as { $ref?: string }).$ref?.startsWith('modules/'))) return true;
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, withoutModuleRefs(v)]));
  }
  return schema;
}
