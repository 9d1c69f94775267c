// The diagnostics a compile step reports for names: a template error at its playbook position, and
// the names a condition uses that nothing defines (or that are registered only by a later task).
import { diag, type Diagnostic } from '../model/diagnostics.js';
import type { PathSeg, Source } from '../load/source.js';
import { posInScalar } from '../load/source.js';
import { conditionRefs, definedTests, parseCondition } from '../template/conditions.js';
import type { TemplateError } from '../template/env.js';
import { own, rawAt } from './render.js';

/** What these checks read from the compile's state: the playbook source, the registered names, where diagnostics go. */
export interface DiagnoseState {
  src: Source;
  /** Register name → line of the first task that registers it. */
  allRegistered: Map<string, number>;
  out: { add(d: Diagnostic): void };
}

export function templateError(st: DiagnoseState, e: TemplateError, scalar: PathSeg[], runtime: Set<string>): void {
  const at = posInScalar(st.src, scalar, e.line, e.col);
  if (e.kind === 'undefined-variable') {
    const name = (e.variable ?? '').split('.')[0] ?? '';
    const line = st.allRegistered.get(name);
    if (line !== undefined && !runtime.has(name)) {
      st.out.add(
        diag('register-before-set', `"${name}" is used before the task that registers it (line ${line})`, at, {
          hint: 'move this task after the one with `register: ' + name + '`',
        }),
      );
      return;
    }
  }
  st.out.add(diag(e.kind, e.message, at, e.hint ? { hint: e.hint } : {}));
}

export function checkConditionRefs(
  st: DiagnoseState,
  conds: string[],
  key: string,
  base: PathSeg[],
  raw: unknown,
  ctx: Record<string, unknown>,
  runtime: Set<string>,
): void {
  conds.forEach((c, i) => {
    const expr = parseCondition(c);
    const guarded = definedTests(expr);
    for (const r of conditionRefs(expr)) {
      if (own(ctx, r.root) || guarded.has(r.root) || r.root === '_') continue;
      // A `when:` list has one scalar per condition; the raw value comes from the playbook source.
      const rawConds = raw ?? rawAt(st.src.data, [...base, key]);
      const at = posInScalar(st.src, Array.isArray(rawConds) ? [...base, key, i] : [...base, key], 1, r.at + 1);
      const line = st.allRegistered.get(r.root);
      if (line !== undefined && !runtime.has(r.root))
        st.out.add(diag('register-before-set', `"${r.root}" is used before the task that registers it (line ${line})`, at, { length: r.root.length }));
      else
        st.out.add(
          diag('undefined-variable', `undefined variable "${r.root}" in ${key}`, at, {
            length: r.root.length,
            hint: 'define it in vars, register it in an earlier task, or guard with "is defined"',
          }),
        );
    }
  });
}
