// Shared CLI plumbing: find the files, parse -e, load → validate → compile, collect diagnostics.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { diag, type Diagnostic } from '../model/diagnostics.js';
import { BUILTIN_HINT, builtinNameMessage, isBuiltinName } from '../model/names.js';
import type { Inventory, JsonObject, Plan, PlanInput, Playbook } from '../model/types.js';
import { loadInventory } from '../inventory/load.js';
import { loadPlaybook } from '../validate/playbook.js';
import { MODULES } from '../modules/registry.js';
import { readYaml, sha256, type Source } from '../load/source.js';
import { compile } from '../compile/compile.js';
import { PACKAGE_ROOT } from '../package/root.js';
import { checkRegisterOrder } from '../validate/semantic.js';
import { stableStringify } from '../report/stable-json.js';

import { RUNBOOK_VERSION } from './version.js';

export { RUNBOOK_VERSION };

/**
 * How a plan names a playbook shipped with runbook: `runbook:playbooks/backup.yml`, never the path of
 * the installed package (a global install lives at a different place on every machine, and the plan
 * would differ with it). The plan records the runbook version and the playbook's sha256 as well.
 */
export const SHIPPED = 'runbook:';

/** A bare name such as `restore-all.yml` (or `restore-all`) means the shipped playbook when no such path exists. */
export function resolvePlaybookPath(arg: string): string {
  if (arg.startsWith(SHIPPED) || existsSync(arg) || arg.includes('/')) return arg;
  for (const name of [arg, `${arg}.yml`]) {
    if (existsSync(join(PACKAGE_ROOT, 'playbooks', name))) return `${SHIPPED}playbooks/${name}`;
  }
  return arg;
}

/** The file to read for a playbook path as a plan names it (a shipped one lives in the package). */
export function playbookFile(path: string): string {
  return path.startsWith(SHIPPED) ? join(PACKAGE_ROOT, path.slice(SHIPPED.length)) : path;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Names that would reshape the object they are assigned to (`__proto__`) are refused like bad names. */
const FORBIDDEN_NAMES = new Set(['__proto__', 'constructor', 'prototype']);

/** -e key=value (the value kept as text), -e '{"k": …}' (JSON) or -e @file.yml (YAML); later ones win. */
export function parseExtraVars(list: string[]): { vars: JsonObject; diagnostics: Diagnostic[]; files: string[] } {
  const vars: JsonObject = {};
  const diagnostics: Diagnostic[] = [];
  const files: string[] = [];
  const at = { file: '-e', line: 1, col: 1 };
  for (const item of list) {
    if (item.startsWith('@')) {
      const f = item.slice(1);
      // Read like a playbook: the same limits (size, encoding, depth, aliases) and positions.
      const r = readYaml(f, f);
      if (!r.source) {
        diagnostics.push(...r.diagnostics);
        continue;
      }
      const v = r.source.data;
      if (!v || typeof v !== 'object' || Array.isArray(v)) diagnostics.push(diag('bad-extra-var', `-e ${item}: not a mapping`, { file: f, line: 1, col: 1 }));
      else {
        assignVars(vars, v, item, diagnostics);
        files.push(f);
      }
      continue;
    }
    if (item.trim().startsWith('{')) {
      try {
        const v = JSON.parse(item) as unknown;
        if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a mapping');
        assignVars(vars, v as JsonObject, item, diagnostics);
      } catch {
        diagnostics.push(diag('bad-extra-var', `-e ${item}: not valid JSON`, at));
      }
      continue;
    }
    const eq = item.indexOf('=');
    const key = eq > 0 ? item.slice(0, eq) : '';
    if (!IDENT.test(key) || FORBIDDEN_NAMES.has(key)) {
      diagnostics.push(diag('bad-extra-var', `-e "${item}": expected key=value with a variable name as key`, at, { hint: 'names use letters, digits and _' }));
      continue;
    }
    if (isBuiltinName(key)) {
      diagnostics.push(diag('reserved-name', builtinNameMessage(key, 'with -e'), at, { length: key.length, hint: BUILTIN_HINT }));
      continue;
    }
    vars[key] = item.slice(eq + 1);
  }
  return { vars, diagnostics, files };
}

/** Copy own keys one by one: Object.assign would call the __proto__ setter for a parsed "__proto__" key. */
function assignVars(vars: JsonObject, from: JsonObject, item: string, diagnostics: Diagnostic[]): void {
  for (const [k, x] of Object.entries(from)) {
    if (!IDENT.test(k) || FORBIDDEN_NAMES.has(k))
      diagnostics.push(diag('bad-extra-var', `-e ${item}: "${k}" is not a valid variable name`, { file: '-e', line: 1, col: 1 }));
    else if (isBuiltinName(k))
      diagnostics.push(diag('reserved-name', builtinNameMessage(k, `with -e ${item}`), { file: '-e', line: 1, col: 1 }, { hint: BUILTIN_HINT }));
    else vars[k] = x;
  }
}

export interface Loaded {
  diagnostics: Diagnostic[];
  texts: Record<string, string>;
  playbook?: Playbook;
  playbookSource?: Source;
  inventory?: Inventory;
  plan?: Plan;
}

function remember(texts: Record<string, string>, s: Source | undefined): void {
  if (s) texts[s.file] = s.text;
}

export function loadInventoryOnly(inventoryArg: string): Loaded {
  const r = loadInventory(inventoryArg, inventoryArg);
  const texts: Record<string, string> = {};
  remember(texts, r.source);
  return { diagnostics: r.diagnostics, texts, ...(r.inventory ? { inventory: r.inventory } : {}) };
}

/** `-t` names a tag no task carries: an empty plan that exits 0 would look like "nothing to do". */
export function unknownTags(playbook: Playbook, tags: string[]): Diagnostic[] {
  const known = [...new Set(playbook.plays.flatMap((p) => p.tasks.flatMap((t) => t.tags)))].sort();
  return tags
    .filter((t) => !known.includes(t))
    .map((t) =>
      diag(
        'unknown-tag',
        `-t ${t}: no task of ${playbook.file} has this tag`,
        { file: '-t', line: 1, col: 1 },
        {
          hint: known.length ? `known tags: ${known.join(', ')}` : 'this playbook has no tags: leave out -t',
        },
      ),
    );
}

export interface PlanRequest {
  playbook: string;
  inventory: string;
  limit?: string;
  extraVars?: string[];
  tags?: string[];
  /** How files read while compiling (template sources) are read; default: the file system. */
  readFile?: (path: string) => string;
}

/** load → validate → compile. Never touches the network; returns all problems at once. */
export function buildPlan(req: PlanRequest): Loaded {
  const pbPath = resolvePlaybookPath(req.playbook);
  const texts: Record<string, string> = {};
  const pb = loadPlaybook(playbookFile(pbPath), MODULES, pbPath);
  remember(texts, pb.source);
  const inv = loadInventory(req.inventory, req.inventory);
  remember(texts, inv.source);
  const ev = parseExtraVars(req.extraVars ?? []);
  const diagnostics = [...pb.diagnostics, ...inv.diagnostics, ...ev.diagnostics];
  if (pb.playbook && pb.source) diagnostics.push(...checkRegisterOrder(pb.playbook, pb.source));
  if (pb.playbook && req.tags) diagnostics.push(...unknownTags(pb.playbook, req.tags));
  if (diagnostics.length || !pb.playbook || !pb.source || !inv.inventory) return { diagnostics, texts };
  const inputs: PlanInput[] = [
    { role: 'playbook', path: pbPath, sha256: pb.playbook.sha256 },
    { role: 'inventory', path: req.inventory, sha256: inv.inventory.sha256 },
  ];
  if (Object.keys(ev.vars).length) inputs.push({ role: 'extra-vars', path: '-e', sha256: sha256(stableStringify(ev.vars)) });
  for (const f of ev.files) inputs.push({ role: 'file', path: f, sha256: sha256(readFileSync(f)) });
  const r = compile(pb.playbook, pb.source, inv.inventory, {
    ...(req.limit ? { limit: req.limit } : {}),
    extraVars: ev.vars,
    ...(req.extraVars?.length ? { extraVarArgs: req.extraVars } : {}),
    playbookDir: dirname(resolve(playbookFile(pbPath))),
    runbookVersion: RUNBOOK_VERSION,
    inputs,
    ...(req.tags ? { tags: req.tags } : {}),
    ...(req.readFile ? { readFile: req.readFile } : {}),
  });
  return { diagnostics: r.diagnostics, texts, playbook: pb.playbook, playbookSource: pb.source, inventory: inv.inventory, ...(r.plan ? { plan: r.plan } : {}) };
}
