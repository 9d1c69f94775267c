// Baking a step's run-time conditions: the static names in them become this host's values as
// literals, so the executor (which knows only run-time names) can evaluate them.
import type { Step, Task } from '../model/types.js';
import { evalCondition } from '../template/condition-eval.js';
import { conditionRefs, parseCondition, printCondition } from '../template/conditions.js';
import { resolvePath } from '../template/runtime.js';
import { own } from './render.js';

/**
 * Run-time conditions get this host's static values as literals (the executor knows only run-time
 * names): sets step.when/until/changedWhen/failedWhen where they differ from the task's, fills
 * assert conditions the same way, and returns 'skip' when a baked `when` is already false.
 */
export function bakeConditions(
  task: Task,
  ctx: Record<string, unknown>,
  runtimeNames: Set<string>,
  runtimeForUntil: Set<string>,
  step: Step,
): 'skip' | undefined {
  const runtimeHere = task.register ? runtimeForUntil : runtimeNames;
  const bakeOne = (c: string, names: Set<string>): string => {
    if (conditionRefs(parseCondition(c)).every((r) => names.has(r.root) || r.root === '_')) return c;
    return printCondition(parseCondition(c), (p) =>
      names.has(p.root) || p.root === '_' || !own(ctx, p.root)
        ? { known: false }
        : { known: true, value: resolvePath(ctx, [p.root, ...p.rest.map(String)].join('.')) },
    );
  };
  const bake = (list: string[] | undefined, names: Set<string>): string[] | undefined => {
    if (!list) return undefined;
    const runtime = list.filter((c) => conditionRefs(parseCondition(c)).some((r) => names.has(r.root)));
    const baked = runtime.map((c) => bakeOne(c, names));
    return baked.some((b, k) => b !== runtime[k]) ? baked : undefined;
  };
  // assert conditions run at run time: give them this host's static values too.
  for (const a of step.actions) if (a.kind === 'check') a.that = a.that.map((c) => bakeOne(c, runtimeNames));
  let w = bake(task.when, runtimeNames);
  // A baked condition whose static part already decides it (`"a" != "a" and x.y`) is settled now.
  if (w) {
    const decided = w.map((c) => {
      try {
        return evalCondition(c, () => {
          throw new Error('run-time');
        });
      } catch {
        return undefined;
      }
    });
    if (decided.includes(false)) return 'skip';
    w = w.filter((_, i) => decided[i] !== true);
    if (w.length === 0) w = undefined;
  }
  const u = bake(task.until, runtimeHere);
  const cw = bake(task.changedWhen, runtimeHere);
  const fw = bake(task.failedWhen, runtimeHere);
  if (w) step.when = w;
  if (u) step.until = u;
  if (cw) step.changedWhen = cw;
  if (fw) step.failedWhen = fw;
  return undefined;
}
