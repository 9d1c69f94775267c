// runbook diff: what changes between two plans, for review.
//   runbook diff OLD.json NEW.json                          two saved plans (runbook plan --out)
//   runbook diff OLD.json PLAYBOOK -i INVENTORY             a saved plan against the working tree
//   runbook diff --base REF PLAYBOOK -i INVENTORY [-l] [-e] the files at REF against the working tree
// Exit 0: no change; 3: changes; 2: a side does not load or compile (its diagnostics are printed).
// No secret value is printed: both plans pass through a redactor of the inventories' secrets first.
import type { Diagnostic } from '../model/diagnostics.js';
import type { Inventory, Plan } from '../model/types.js';
import { readFileSync } from 'node:fs';
import { formatDiagnostics } from '../report/diagnostics-text.js';
import { makeRedactor, redactDeep } from '../redact/redact.js';
import { diffPlans } from '../diff/match.js';
import { renderDiffText } from '../diff/render-text.js';
import { renderDiffMarkdown } from '../diff/render-markdown.js';
import { renderDiffJson } from '../diff/render-json.js';
import { renderDiffGithub } from '../diff/render-github.js';
import { buildPlan, loadInventoryOnly, type PlanRequest } from './inputs.js';
import { buildPlanAtRevision } from './revision.js';
import { githubAnnotations } from './validate.js';
import { isSavedPlanPath, loadSavedPlan } from './saved-plan.js';
import { EXIT, type Io } from '../model/io.js';

export interface DiffOptions {
  base?: string;
  inventory?: string;
  limit?: string;
  extraVars?: string[];
  tags?: string[];
  format?: string;
  /** Colour the text format; default: when writing to a terminal and NO_COLOR is unset. */
  color?: boolean;
}

interface Side {
  source: string;
  plan?: Plan;
  diagnostics: Diagnostic[];
  texts: Record<string, string>;
  secrets: string[];
}

/** Secret values an inventory can resolve here (env, or a readable file); missing ones are skipped. */
function secretValues(inv: Inventory | undefined, realPath: (p: string) => string = (p) => p): string[] {
  const out: string[] = [];
  for (const src of Object.values(inv?.secretSources ?? {})) {
    if (src.env !== undefined) {
      const v = process.env[src.env];
      if (v) out.push(v);
    } else if (src.file !== undefined) {
      try {
        const v = readFileSync(realPath(src.file), 'utf8').replace(/\r?\n$/, '');
        if (v) out.push(v);
      } catch {
        // Not readable here: it cannot be in this plan either.
      }
    }
  }
  return out;
}

function request(playbook: string, opts: DiffOptions): PlanRequest {
  return {
    playbook,
    inventory: opts.inventory ?? '',
    extraVars: opts.extraVars ?? [],
    ...(opts.limit ? { limit: opts.limit } : {}),
    ...(opts.tags ? { tags: opts.tags } : {}),
  };
}

function workingTreeSide(req: PlanRequest): Side {
  const r = buildPlan(req);
  return { source: 'working tree', diagnostics: r.diagnostics, texts: r.texts, secrets: secretValues(r.inventory), ...(r.plan ? { plan: r.plan } : {}) };
}

function revisionSide(rev: string, req: PlanRequest, io: Io): Side {
  const r = buildPlanAtRevision(rev, req);
  // Said out loud: a file read from the working tree on both sides shows no change whatever it holds.
  for (const n of r.notCompared) io.err(`runbook diff: ${n.path} is not compared at ${rev} (${n.why}): read from the working tree on both sides\n`);
  return {
    source: `git:${rev}`,
    diagnostics: r.diagnostics,
    texts: r.texts,
    secrets: secretValues(r.inventory, r.realPath),
    ...(r.plan ? { plan: r.plan } : {}),
  };
}

function savedSide(path: string): Side {
  const r = loadSavedPlan(path);
  if (!r.plan) return { source: path, diagnostics: r.diagnostics, texts: {}, secrets: [] };
  // The plan holds no secrets by design; its inventory, when still here, says what to mask anyway.
  const inv = r.plan.inventory ? loadInventoryOnly(r.plan.inventory).inventory : undefined;
  return { source: path, plan: r.plan, diagnostics: [], texts: {}, secrets: secretValues(inv) };
}

const USAGE = [
  'usage:',
  '  runbook diff OLD.json NEW.json',
  '  runbook diff OLD.json PLAYBOOK -i INVENTORY',
  '  runbook diff --base REF PLAYBOOK -i INVENTORY [-l LIMIT] [-e k=v]...',
].join('\n');

export function runDiff(args: string[], opts: DiffOptions, io: Io): number {
  const usage = (msg: string): number => {
    io.err(`runbook diff: ${msg}\n${USAGE}\n`);
    return EXIT.INVALID;
  };
  let sides: [Side, Side];
  if (opts.base !== undefined) {
    const [playbook] = args;
    if (args.length !== 1 || playbook === undefined) return usage('with --base, give one playbook (and -i one inventory); loop for more pairs');
    if (isSavedPlanPath(playbook)) return usage('--base renders a playbook at a revision; to compare saved plans, give OLD.json NEW.json');
    if (!opts.inventory) return usage('--base needs -i INVENTORY');
    const req = request(playbook, opts);
    sides = [revisionSide(opts.base, req, io), workingTreeSide(req)];
  } else {
    const [a, b] = args;
    if (args.length !== 2 || a === undefined || b === undefined) return usage('give OLD and NEW');
    const side = (x: string): Side | undefined => (isSavedPlanPath(x) ? savedSide(x) : opts.inventory ? workingTreeSide(request(x, opts)) : undefined);
    const sa = side(a);
    const sb = side(b);
    if (!sa || !sb) return usage(`${isSavedPlanPath(a) ? b : a} is not a saved plan (.json): a playbook needs -i INVENTORY`);
    sides = [sa, sb];
  }
  const redact = makeRedactor([...sides[0].secrets, ...sides[1].secrets]);
  const [oldSide, newSide] = sides;
  if (!oldSide.plan || !newSide.plan) {
    for (const [name, s] of [
      ['old', oldSide],
      ['new', newSide],
    ] as const) {
      if (!s.plan) io.err(redact(`runbook diff: the ${name} side (${s.source}) does not load:\n${formatDiagnostics(s.diagnostics, s.texts)}`));
      // In a workflow, the problems also land on their file and line.
      if (!s.plan && opts.format === 'github') io.out(redact(githubAnnotations(s.diagnostics)));
    }
    return EXIT.INVALID;
  }
  // Secrets are masked before comparing, so no rendering (highlights, elisions) can split one.
  const hasSecrets = sides[0].secrets.length + sides[1].secrets.length > 0;
  const oldPlan = hasSecrets ? redactDeep(oldSide.plan, redact) : oldSide.plan;
  const newPlan = hasSecrets ? redactDeep(newSide.plan, redact) : newSide.plan;
  const d = diffPlans(oldPlan, newPlan, { old: oldSide.source, new: newSide.source });
  const color = opts.color ?? (io.isTTY && !process.env.NO_COLOR);
  const text =
    opts.format === 'json'
      ? renderDiffJson(d)
      : opts.format === 'markdown'
        ? renderDiffMarkdown(d)
        : opts.format === 'github'
          ? renderDiffGithub(d, newPlan)
          : renderDiffText(d, { color });
  io.out(redact(text));
  return d.changed ? EXIT.CHANGES : EXIT.OK;
}
