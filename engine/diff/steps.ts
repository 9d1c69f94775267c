// One step against another (same task, same host — or a replaced host): which actions were added,
// removed or changed, line by line and word by word. Lines are what `runbook plan` prints
// (describeAction), so a diff reads like the plan a reviewer already knows.
import type { Action, Step } from '../model/types.js';
import { describeAction } from '../report/plan-text.js';
import { sha256 } from '../load/source.js';
import { edits } from './lcs.js';
import { actionKey, canonicalText } from './sets.js';
import { diffLine } from './words.js';
import type { ActionChange, FieldChange, LineChange } from './model.js';

export interface StepDelta {
  fields: FieldChange[];
  actions: ActionChange[];
  unchangedActions: number;
}

const list = (x: string[] | undefined): string => (x ? x.join('\u0000') : '');

/**
 * Keys of both steps' actions for the edit script. Actions equal as they are (most of them) share a
 * positional token; only the others get their canonical key, which copies long commands.
 */
function actionKeys(a: Step, b: Step): [string[], string[]] {
  const xa = a.skip ? [] : a.actions;
  const xb = b.skip ? [] : b.actions;
  const ka: (string | undefined)[] = xa.map(() => undefined);
  const kb: (string | undefined)[] = xb.map(() => undefined);
  for (let i = 0; i < Math.min(xa.length, xb.length); i++) {
    if (deepEqual(xa[i], xb[i])) ka[i] = kb[i] = `\u0001${i}`;
  }
  return [xa.map((x, i) => ka[i] ?? actionKey(x)), xb.map((x, i) => kb[i] ?? actionKey(x))];
}

/** Whether two steps do the same thing (ids and needs are derived, so not compared). */
function sameStep(a: Step, b: Step, keys: () => [string[], string[]]): boolean {
  if (a.target !== b.target || a.skip !== b.skip || a.actions.length !== b.actions.length) return false;
  if (
    list(a.when) !== list(b.when) ||
    list(a.until) !== list(b.until) ||
    list(a.changedWhen) !== list(b.changedWhen) ||
    list(a.failedWhen) !== list(b.failedWhen)
  )
    return false;
  if (a.actions.every((x, i) => deepEqual(x, b.actions[i]))) return true;
  const [ka, kb] = keys();
  return ka.every((k, i) => k === kb[i]);
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

function stepFields(a: Step, b: Step): FieldChange[] {
  const out: FieldChange[] = [];
  const cond = (x: string[] | undefined): string => (x ?? []).join(' and ');
  const field = (name: string, x: string, y: string): void => {
    if (canonicalText(x) !== canonicalText(y)) out.push({ field: name, old: x, new: y });
  };
  field('runs on', a.target === a.host ? '' : a.target, b.target === b.host ? '' : b.target);
  field('skipped', a.skip ?? '', b.skip ?? '');
  field('run only when', cond(a.when), cond(b.when));
  field('retry until', cond(a.until), cond(b.until));
  field('changed when', cond(a.changedWhen), cond(b.changedWhen));
  field('failed when', cond(a.failedWhen), cond(b.failedWhen));
  return out;
}

/** What the plan text hides of an action (stdin, a wait's polling command): shown when nothing else differs. */
function hiddenLine(a: Action): string {
  if (a.kind === 'exec' && a.stdin !== undefined) return `  <<< stdin sha256:${sha256(a.stdin).slice(0, 12)}`;
  if (a.kind === 'wait') return `  polls: ${a.cmd}`;
  return `  ${actionKey(a)}`;
}

function diffAction(a: Action, b: Action): ActionChange {
  const la = describeAction(a);
  const lb = describeAction(b);
  const lines: LineChange[] = [];
  let context: string | undefined;
  const [onlyA] = la;
  const [onlyB] = lb;
  if (la.length === 1 && lb.length === 1 && onlyA !== undefined && onlyB !== undefined) {
    const line = diffLine(onlyA, onlyB);
    return { op: 'modified', lines: [line.words.length ? line : diffLine(hiddenLine(a), hiddenLine(b))] };
  }
  // Lines equal as they are need no canonical form (which copies long lines).
  const keyA = la.map((l, i) => (l === lb[i] ? l : canonicalText(l)));
  const keyB = lb.map((l, i) => (l === la[i] ? l : canonicalText(l)));
  for (const e of edits(keyA, keyB)) {
    if (e.op === 'same') {
      if (e.a === 0 && e.b === 0) context = lb[0];
      continue;
    }
    const n = Math.min(e.a.length, e.b.length);
    for (let k = 0; k < n; k++) lines.push(diffLine(la[e.a[k] ?? 0] ?? '', lb[e.b[k] ?? 0] ?? ''));
    for (const i of e.a.slice(n)) lines.push({ old: la[i] ?? '', words: [] });
    for (const j of e.b.slice(n)) lines.push({ new: lb[j] ?? '', words: [] });
  }
  if (lines.length === 0) lines.push(diffLine(hiddenLine(a), hiddenLine(b)));
  return { op: 'modified', ...(context !== undefined ? { context } : {}), lines };
}

function whole(op: 'added' | 'removed', a: Action): ActionChange {
  return { op, lines: describeAction(a).map((l) => (op === 'added' ? { new: l, words: [] } : { old: l, words: [] })) };
}

/** The difference between two steps, or undefined when they do the same thing. */
export function diffStep(a: Step, b: Step): StepDelta | undefined {
  let keys: [string[], string[]] | undefined;
  const getKeys = (): [string[], string[]] => (keys ??= actionKeys(a, b));
  if (sameStep(a, b, getKeys)) return undefined;
  const fields = stepFields(a, b);
  const [ka, kb] = getKeys();
  const actions: ActionChange[] = [];
  let unchanged = 0;
  for (const e of edits(ka, kb)) {
    if (e.op === 'same') {
      unchanged++;
      continue;
    }
    // Changed actions of the same kind, in order, are shown as modified; the rest added/removed.
    const usedB = new Set<number>();
    const pending: ActionChange[] = [];
    for (const i of e.a) {
      const x = a.actions[i];
      if (!x) continue;
      const j = e.b.find((jj) => !usedB.has(jj) && b.actions[jj]?.kind === x.kind);
      const y = j === undefined ? undefined : b.actions[j];
      if (j !== undefined && y) {
        usedB.add(j);
        // Added actions before this pair keep their place.
        for (const jj of e.b)
          if (jj < j && !usedB.has(jj)) {
            usedB.add(jj);
            const z = b.actions[jj];
            if (z) pending.push(whole('added', z));
          }
        pending.push(diffAction(x, y));
      } else pending.push(whole('removed', x));
    }
    for (const j of e.b)
      if (!usedB.has(j)) {
        const z = b.actions[j];
        if (z) pending.push(whole('added', z));
      }
    actions.push(...pending);
  }
  if (fields.length === 0 && actions.length === 0) return undefined;
  return { fields, actions, unchangedActions: unchanged };
}
