// vars_required: the extra vars a play needs (`-e name=…` for remove-member, `-e old= new=` for
// replace-member). Without one, or with it empty, the plan is refused before anything runs (exit
// 2 at the entry of vars_required), instead of failing at run time. Checked before anything else is
// compiled: the rest would only repeat a missing variable as empty values.
import { diag, type Diagnostic } from '../model/diagnostics.js';
import type { Inventory, JsonObject, Play } from '../model/types.js';
import { locate, type Source } from '../load/source.js';

export function missingVars(play: Play, pi: number, src: Source, inv: Inventory, extraVars: JsonObject): Diagnostic[] {
  return (play.varsRequired ?? []).flatMap((name, i) => {
    const v = name in extraVars ? extraVars[name] : inv.vars[name];
    if (v !== undefined && v !== null && v !== '') return [];
    const at = locate(src, [pi, 'vars_required', i]);
    const all = (play.varsRequired ?? []).map((n) => `-e ${n}=…`).join(' ');
    return [
      diag('missing-var', `"${name}" is required by play "${play.name}" and was not given${v === '' ? ' (it is empty)' : ''}`, at, {
        length: at.length,
        hint: `pass ${all} (see the playbook's header for what each means)`,
      }),
    ];
  });
}
