// runbook plan PLAYBOOK -i INVENTORY: the deterministic plan, as review text or versioned JSON. No network.
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { buildPlan } from './inputs.js';
import { formatDiagnostics } from '../report/diagnostics-text.js';
import { renderPlanText } from '../report/plan-text.js';
import { stableStringify } from '../report/stable-json.js';
import { EXIT, type Io } from '../model/io.js';

export interface PlanOptions {
  inventory: string;
  limit?: string;
  extraVars?: string[];
  tags?: string[];
  format?: string;
  out?: string;
  /** Text: the exact commands under each step's intent. */
  verbose?: boolean;
}

export function runPlan(playbook: string, opts: PlanOptions, io: Io): number {
  const r = buildPlan({
    playbook,
    inventory: opts.inventory,
    ...(opts.limit ? { limit: opts.limit } : {}),
    extraVars: opts.extraVars ?? [],
    ...(opts.tags ? { tags: opts.tags } : {}),
  });
  if (!r.plan) {
    io.err(formatDiagnostics(r.diagnostics, r.texts));
    return EXIT.INVALID;
  }
  const text = opts.format === 'json' ? stableStringify(r.plan) : renderPlanText(r.plan, { verbose: opts.verbose === true });
  if (opts.out) {
    // Plans are written owner-only: they describe production hosts. A directory made for one is owner-only
    // too; an existing file never keeps wider permissions.
    if (!existsSync(dirname(opts.out))) mkdirSync(dirname(opts.out), { recursive: true, mode: 0o700 });
    writeFileSync(opts.out, opts.format === 'text' ? text : stableStringify(r.plan), { mode: 0o600 });
    chmodSync(opts.out, 0o600);
    io.err(`plan written to ${opts.out}\n`);
  } else io.out(text);
  return EXIT.OK;
}
