// The diff as GitHub workflow commands: one `::notice` per changed task, on the playbook line that
// task starts at, so a pull request shows what each changed task now does next to its YAML.
// Connection and plan-level changes are annotated on the inventory. A summary line goes last.
import type { Plan, PlannedTask } from '../model/types.js';
import type { PlanDiff, TaskChange } from './model.js';
import { hostsText } from './render-common.js';

/** Workflow command escaping: properties also escape `:` and `,`. */
const prop = (s: string): string => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A').replace(/:/g, '%3A').replace(/,/g, '%2C');
const msg = (s: string): string => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');

function taskOf(plan: Plan, play: number, task: number): PlannedTask | undefined {
  return plan.plays.find((p) => p.index === play)?.tasks.find((t) => t.index === task);
}

function describe(t: TaskChange): string {
  const lines = [
    `${t.status === 'added' ? 'new task' : t.status === 'removed' ? 'task removed' : t.moved ? 'task moved' : 'task changed'}: ${t.name} (${t.module})`,
  ];
  for (const f of t.fields) lines.push(`${f.field}: ${f.old || '(none)'} → ${f.new || '(none)'}`);
  for (const g of t.steps) {
    const changed = g.actions.reduce((n, a) => n + a.lines.length, 0);
    lines.push(`${g.status} on ${hostsText(g)}${g.intent ? `: ${g.intent}` : ''}${changed ? ` (${changed} command line(s) changed)` : ''}`);
  }
  return lines.join('\n');
}

export function renderDiffGithub(d: PlanDiff, newPlan: Plan): string {
  const out: string[] = [];
  const title = (s: string): string => `title=${prop(s)}`;
  const at = (file: string, line: number): string => `file=${prop(file)},line=${line}`;
  for (const f of d.plan) out.push(`::notice ${at(newPlan.inventory, 1)},${title('runbook diff: plan')}::${msg(`${f.field}: ${f.old} → ${f.new}`)}`);
  for (const c of d.connections) {
    const fields = c.fields.map((f) => `${f.field}: ${f.old} → ${f.new}`).join('\n');
    out.push(`::notice ${at(newPlan.inventory, 1)},${title(`runbook diff: host ${c.host}`)}::${msg(fields)}`);
  }
  for (const play of d.plays) {
    for (const t of play.tasks) {
      // A removed task has no line in the new playbook: it is annotated on the file's first line.
      const src = t.status === 'removed' ? undefined : taskOf(newPlan, play.index, t.index)?.src;
      const file = src?.file ?? newPlan.playbook;
      out.push(`::notice ${at(file, src?.line ?? 1)},${title(`runbook diff: TASK ${play.index}.${t.index}`)}::${msg(describe(t))}`);
    }
    if (play.status !== 'modified' && !play.tasks.length)
      out.push(`::notice ${at(newPlan.playbook, 1)},${title(`runbook diff: PLAY ${play.index}`)}::${msg(`play ${play.status}: ${play.name}`)}`);
  }
  out.push(d.summary.line);
  return `${out.join('\n')}\n`;
}
