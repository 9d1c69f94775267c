// Module arguments after rendering: checked against the module's schema again (plan time), or, for
// values only known at run time, a check_arg action the step runs before its commands.
import { diag, type Diagnostic } from '../model/diagnostics.js';
import { jsonText, type Action, type JsonObject, type Task } from '../model/types.js';
import { locate, type PathSeg, type Source } from '../load/source.js';
import type { ModuleDef } from '../modules/module.js';
import { placeholdersIn } from '../template/runtime.js';
import { argPattern, schemaDiagnostics, skipStringsWith } from '../validate/schema.js';

/** What the checks need of a compile: the playbook source (positions) and where problems go. */
export interface ArgCheckState {
  src: Source;
  out: { add(d: Diagnostic): void };
}

/**
 * Rendered values are checked against the module's schema again (a member name, a URL, a path
 * without a leading dash): inventory and -e values are refused here, before anything runs.
 * Values known only at run time (⟨…⟩) are checked when the step runs (runtimeArgChecks).
 */
export function checkRenderedArgs(st: ArgCheckState, task: Task, mod: ModuleDef, base: PathSeg[], rawArgs: JsonObject, args: JsonObject): boolean {
  // A template that rendered empty is almost always a variable not given: say that, not "does not match".
  const empty = Object.keys(args).filter((k) => args[k] === '' && typeof rawArgs[k] === 'string' && rawArgs[k].includes('{{'));
  for (const k of empty) {
    const at = locate(st.src, task.argSrc[`/${k}`] ? [...base, task.module, k] : [...base, task.module]);
    st.out.add(
      diag('empty-value', `${task.module} ${k}: "${jsonText(rawArgs[k])}" rendered empty`, at, {
        length: at.length,
        hint: 'a variable it uses is empty: pass it with -e NAME=VALUE',
      }),
    );
  }
  if (empty.length) return false;
  const bad = schemaDiagnostics(st.src, `modules/${mod.schema}`, args, { prefix: [...base, task.module], skip: skipStringsWith(args, '⟨') });
  for (const d of bad)
    st.out.add({
      ...d,
      message: `${d.message} (after rendering)`,
      hint: d.hint ?? 'the value comes from a variable (inventory vars, play vars or -e): fix the value',
    });
  return bad.length === 0;
}

/**
 * Arguments known only at run time (⟨…⟩) whose schema has a pattern: checked by the step itself,
 * before its commands, so a registered value meets the same rule a plan-time value does.
 */
export function runtimeArgChecks(schema: string, args: JsonObject): Action[] {
  const out: Action[] = [];
  for (const [k, v] of Object.entries(args)) {
    // run.id and run.timestamp have a fixed shape (runbook makes them): only other values need a check.
    if (typeof v === 'string' && placeholdersIn(v).some((p) => p !== 'run.id' && p !== 'run.timestamp') && argPattern(schema, k))
      out.push({ kind: 'derive', fn: 'check_arg', args: [schema, k, v], bind: `checked_${k}` });
  }
  return out;
}
