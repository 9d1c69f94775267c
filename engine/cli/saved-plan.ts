// Saved plans (`runbook plan … --out plan.json`): load one with its format and version checked, and
// check it is still fresh — every input it was compiled from (playbook, inventory, template
// sources, -e @files) still has the sha256 recorded in the plan. Both are pure of side effects
// beyond reading files; `apply plan.json` and `diff` build on them.
import { readFileSync, statSync } from 'node:fs';
import { INPUT_LIMITS } from '../load/limits.js';
import { isAbsolute, resolve } from 'node:path';
import { diag, type Diagnostic } from '../model/diagnostics.js';
import { PLAN_FORMAT, PLAN_VERSION, type Plan, type PlanInput } from '../model/types.js';
import { sha256 } from '../load/source.js';
import { validator } from '../validate/schema.js';
import { playbookFile } from './inputs.js';

export type SavedPlan = { plan: Plan; diagnostics: [] } | { plan?: undefined; diagnostics: Diagnostic[] };

/** A path names a saved plan when it ends in .json (playbooks and inventories are YAML). */
export function isSavedPlanPath(path: string): boolean {
  return /\.json$/i.test(path);
}

function lineCol(text: string, offset: number): { line: number; col: number } {
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, col: (before[before.length - 1]?.length ?? 0) + 1 };
}

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The plan schema (schemas/plan.schema.json, precompiled like the others): the first problems, by JSON path. */
function schemaProblems(v: unknown): string[] {
  const fn = validator('plan');
  if (fn(v)) return [];
  const errors = (fn.errors ?? []).filter((e) => e.keyword !== 'oneOf' && e.keyword !== 'const');
  const shown = (errors.length ? errors : (fn.errors ?? [])).slice(0, 3);
  return shown.map(
    (e) =>
      `${e.instancePath || '/'} ${e.message ?? 'is not valid'}${e.keyword === 'additionalProperties' ? ` ("${String(e.params.additionalProperty)}")` : ''}`,
  );
}

/** Read a saved plan: JSON, format runbook-plan, a version this runbook reads, the expected shape. */
export function loadSavedPlan(path: string): SavedPlan {
  const at = { file: path, line: 1, col: 1 };
  let text: string;
  try {
    // Never a FIFO or device (would block or never end), nor a file beyond any real plan's size.
    const st = statSync(path);
    if (!st.isFile())
      return {
        diagnostics: [
          diag('input-limit', `${path} is not a regular file`, at, { hint: 'a saved plan is the file written by `runbook plan … --out plan.json`' }),
        ],
      };
    if (st.size > INPUT_LIMITS.planBytes) {
      return {
        diagnostics: [
          diag(
            'input-limit',
            `${path} is ${Math.round(st.size / 1024 / 1024)} MiB, more than the limit of ${INPUT_LIMITS.planBytes / 1024 / 1024} MiB for a saved plan`,
            at,
            { hint: 'README "Input limits"' },
          ),
        ],
      };
    }
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return {
      diagnostics: [
        diag(
          code === 'ENOENT' ? 'file-not-found' : 'plan-unreadable',
          code === 'ENOENT' ? `plan file ${path} does not exist` : `cannot read ${path}: ${e instanceof Error ? e.message : String(e)}`,
          at,
        ),
      ],
    };
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    const pos = /position (\d+)/.exec(msg)?.[1];
    return {
      diagnostics: [
        diag('plan-unreadable', `${path} is not valid JSON: ${msg}`, pos !== undefined ? { file: path, ...lineCol(text, Number(pos)) } : at, {
          hint: 'write plans with `runbook plan PLAYBOOK -i INVENTORY --out plan.json`',
        }),
      ],
    };
  }
  if (!isObj(v) || v.format !== PLAN_FORMAT) {
    const found = isObj(v) && typeof v.format === 'string' ? ` (format "${v.format}")` : '';
    return {
      diagnostics: [
        diag('plan-format', `${path} is not a runbook plan${found}`, at, { hint: 'write plans with `runbook plan PLAYBOOK -i INVENTORY --out plan.json`' }),
      ],
    };
  }
  if (v.version !== PLAN_VERSION) {
    return {
      diagnostics: [
        diag('plan-format', `${path} is a ${PLAN_FORMAT} version ${JSON.stringify(v.version)} plan; this runbook reads version ${PLAN_VERSION}`, at, {
          hint: 'render the plan again with this runbook version',
        }),
      ],
    };
  }
  const problems = schemaProblems(v);
  if (problems.length)
    return {
      diagnostics: [
        diag('plan-format', `${path} is not a valid runbook plan: ${problems.join('; ')}`, at, {
          hint: 'write plans with `runbook plan PLAYBOOK -i INVENTORY --out plan.json`; never edit one',
        }),
      ],
    };
  return { plan: v as unknown as Plan, diagnostics: [] };
}

export interface StaleInput {
  path: string;
  role: PlanInput['role'];
  /** The sha256 recorded in the plan. */
  expected: string;
  /** The file's sha256 now, or 'missing'. */
  actual: string;
}

export interface Freshness {
  stale: StaleInput[];
}

/**
 * Whether the files a saved plan was compiled from are unchanged. Paths in a plan are relative to
 * the directory `runbook plan` ran in (`cwd`, default the current one). Extra vars given inline
 * (-e k=v) are part of the plan itself and need no check; -e @file files are checked.
 */
export function checkPlanFreshness(plan: Plan, opts: { cwd?: string } = {}): Freshness {
  const stale: StaleInput[] = [];
  for (const input of plan.inputs) {
    if (input.role === 'extra-vars') continue;
    const path = playbookFile(input.path);
    const file = isAbsolute(path) ? path : resolve(opts.cwd ?? process.cwd(), path);
    let actual: string;
    try {
      const bytes = readFileSync(file);
      // Loaders hash the decoded text, -e @files the raw bytes: either matching is a match.
      const fromBytes = sha256(bytes);
      actual = fromBytes === input.sha256 ? fromBytes : sha256(bytes.toString('utf8'));
    } catch {
      actual = 'missing';
    }
    if (actual !== input.sha256) stale.push({ path: input.path, role: input.role, expected: input.sha256, actual });
  }
  return { stale };
}

/** The refusal message for a stale plan: which files changed, and what to do. */
export function describeStale(planPath: string, f: Freshness): string {
  const lines = [`refusing to apply ${planPath}: it is stale (its inputs changed since it was written)`];
  for (const s of f.stale) {
    lines.push(
      s.actual === 'missing'
        ? `  ${s.role} ${s.path}: missing (sha256 was ${s.expected.slice(0, 12)})`
        : `  ${s.role} ${s.path}: changed (sha256 ${s.expected.slice(0, 12)} → ${s.actual.slice(0, 12)})`,
    );
  }
  lines.push(`render it again (runbook plan … --out ${planPath}), review it, and apply the new plan`);
  return `${lines.join('\n')}\n`;
}

/** Where two plans first differ, as a JSON path (e.g. plays[0].tasks[2].steps[0].actions[1].cmd), or undefined. */
export function firstDifference(a: unknown, b: unknown, at = ''): string | undefined {
  if (a === b) return undefined;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null || Array.isArray(a) !== Array.isArray(b)) return at || '(the whole plan)';
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      const d = firstDifference(a[i], b[i], `${at}[${i}]`);
      if (d) return d;
    }
    return undefined;
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  for (const k of [...new Set([...Object.keys(ao), ...Object.keys(bo)])].sort()) {
    const d = firstDifference(ao[k], bo[k], at ? `${at}.${k}` : k);
    if (d) return d;
  }
  return undefined;
}
