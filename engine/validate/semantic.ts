// Checks a schema cannot express and that need no inventory: a registered name used before the
// task that sets it. (Checks that need the inventory — hosts, variables — happen in compile.)
import { diag, type Diagnostic } from '../model/diagnostics.js';
import type { Json, Playbook } from '../model/types.js';
import { posInScalar } from '../load/source.js';
import type { PathSeg, Source } from '../load/source.js';
import { conditionRefs, parseCondition } from '../template/conditions.js';
import { compileTemplate, hasTemplate, TemplateError } from '../template/env.js';

function stringsIn(v: Json, path: PathSeg[], out: { text: string; path: PathSeg[] }[]): void {
  if (typeof v === 'string') out.push({ text: v, path });
  else if (Array.isArray(v)) v.forEach((x, i) => stringsIn(x, [...path, i], out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) stringsIn(x, [...path, k], out);
}

/**
 * Line of each raw task → its index, computed once per play: looking each task up by scanning the
 * raw tasks made validation quadratic (8,000 tasks took a minute).
 */
function rawTaskLines(src: Source, pi: number, count: number): Map<number, number> {
  const m = new Map<number, number>();
  for (let i = 0; i < count; i++) {
    const line = posInScalar(src, [pi, 'tasks', i], 1, 1).line;
    if (!m.has(line)) m.set(line, i);
  }
  return m;
}

export function checkRegisterOrder(pb: Playbook, src: Source): Diagnostic[] {
  const setAt = new Map<string, number>();
  pb.plays.forEach((p, pi) => p.tasks.forEach((t, ti) => t.register && !setAt.has(t.register) && setAt.set(t.register, pi * 100000 + ti)));
  const out: Diagnostic[] = [];
  const raw = src.data as Json[];
  pb.plays.forEach((play, pi) => {
    const rawTasks = (raw[pi] as { tasks?: Json[] } | undefined)?.tasks ?? [];
    const indexOfLine = rawTaskLines(src, pi, rawTasks.length);
    play.tasks.forEach((task) => {
      const ti = indexOfLine.get(task.src.line) ?? -1;
      const order = pi * 100000 + (ti >= 0 ? ti : 0);
      const uses: { name: string; at: { line: number; col: number; file: string } }[] = [];
      const rawWhen = (rawTasks[ti] as { when?: Json } | undefined)?.when;
      task.when.forEach((c, ci) => {
        const path: PathSeg[] = Array.isArray(rawWhen) ? [pi, 'tasks', ti, 'when', ci] : [pi, 'tasks', ti, 'when'];
        for (const r of conditionRefs(parseCondition(c))) uses.push({ name: r.root, at: posInScalar(src, path, 1, r.at + 1) });
      });
      const strings: { text: string; path: PathSeg[] }[] = [];
      stringsIn(task.args, [pi, 'tasks', ti, task.module], strings);
      for (const s of strings) {
        if (!hasTemplate(s.text)) continue;
        try {
          for (const p of compileTemplate(s.text, 'plain').paths) uses.push({ name: p.root, at: posInScalar(src, s.path, p.line, p.col) });
        } catch (e) {
          if (!(e instanceof TemplateError)) throw e;
          const at = posInScalar(src, s.path, e.line, e.col);
          out.push(diag('template-syntax', e.message, at, e.hint ? { hint: e.hint } : {}));
        }
      }
      for (const u of uses) {
        const at = setAt.get(u.name);
        if (at !== undefined && at >= order) {
          const hint = `move this task after the one with register: ${u.name}`;
          out.push(diag('register-before-set', `"${u.name}" is used before the task that registers it`, u.at, { length: u.name.length, hint }));
        }
      }
    });
  });
  return out;
}
