// The diff for a terminal or a CI log: by play and task, then by host; hosts with the same change
// shown once; unchanged tasks and plays collapsed to a count. Colour (plain ANSI codes) only when
// asked for: red/green lines, changed words in reverse video.
import type { ActionChange, LineChange, PlanDiff, PlayChange, StepGroup, TaskChange } from './model.js';
import { fieldText, hostsText, onlySameStepSwaps, plural, segments, statusNote, swapsText, wordDetail, type Segment } from './render-common.js';

interface Paint {
  bold: (s: string) => string;
  dim: (s: string) => string;
  red: (s: string) => string;
  green: (s: string) => string;
  yellow: (s: string) => string;
  /** A changed stretch inside a red or green line. */
  mark: (s: string) => string;
}

const esc = (code: string, off: string) => (s: string) => `\x1b[${code}m${s}\x1b[${off}m`;
const COLOR: Paint = { bold: esc('1', '22'), dim: esc('2', '22'), red: esc('31', '39'), green: esc('32', '39'), yellow: esc('33', '39'), mark: esc('7', '27') };
const id = (s: string): string => s;
const PLAIN: Paint = { bold: id, dim: id, red: id, green: id, yellow: id, mark: id };

function painted(segs: Segment[], p: Paint): string {
  return segs.map((s) => (s.changed ? p.mark(s.text) : s.text)).join('');
}

function lineOut(l: LineChange, indent: string, p: Paint, out: string[]): void {
  if (l.old !== undefined) out.push(`${indent}${p.red(`- ${painted(segments(l.old, l.new !== undefined ? l.oldSpans : undefined), p)}`)}`);
  if (l.new !== undefined) out.push(`${indent}${p.green(`+ ${painted(segments(l.new, l.old !== undefined ? l.newSpans : undefined), p)}`)}`);
  for (const w of l.words) {
    const d = wordDetail(w);
    if (d) out.push(`${indent}  ${p.yellow(d)}`);
  }
}

function actionOut(a: ActionChange, indent: string, p: Paint, out: string[]): void {
  if (a.context !== undefined)
    out.push(
      `${indent}  ${segments(a.context, undefined)
        .map((s) => s.text)
        .join('')}`,
    );
  for (const l of a.lines) lineOut(l, indent, p, out);
}

function groupOut(g: StepGroup, p: Paint, out: string[]): void {
  const marker = g.status === 'added' ? p.green('+') : g.status === 'removed' ? p.red('-') : p.yellow('~');
  const note = statusNote(g);
  if (g.status === 'replaced' && note === 'same steps') {
    out.push(`    ${marker} ${hostsText(g)}: same steps`);
    return;
  }
  const extra = [note, g.shownFor ? `shown for ${g.shownFor}` : ''].filter(Boolean).join(', ');
  out.push(`    ${marker} ${hostsText(g)}${extra ? `  (${extra})` : ''}${g.intent ? `: ${g.intent}` : ''}`);
  for (const f of g.fields) out.push(`        ${p.yellow(fieldText(f))}`);
  for (const a of g.actions) actionOut(a, '      ', p, out);
  if (g.unchangedActions) out.push(p.dim(`        … ${plural(g.unchangedActions, 'unchanged action')}`));
}

function taskOut(t: TaskChange, playIndex: number, p: Paint, out: string[]): void {
  if (t.unchangedBefore) out.push(p.dim(`  … ${plural(t.unchangedBefore, 'unchanged task')}`));
  const mark = t.status === 'added' ? p.green('+ ') : t.status === 'removed' ? p.red('- ') : '';
  const note = t.status === 'added' ? ' — new task' : t.status === 'removed' ? ' — task removed' : t.moved ? ' — moved' : '';
  if (onlySameStepSwaps(t)) {
    out.push(`  ${p.bold(`TASK ${playIndex}.${t.index} · ${t.name}`)}  (${t.module}) — ${p.yellow(swapsText(t))}: same steps`);
    return;
  }
  out.push(`  ${mark}${p.bold(`TASK ${playIndex}.${t.index} · ${t.name}`)}  (${t.module})${note}`);
  for (const f of t.fields) out.push(`    ${p.yellow(fieldText(f))}`);
  for (const g of t.steps) groupOut(g, p, out);
  if (t.unchangedHosts && t.steps.length) out.push(p.dim(`    … unchanged on ${plural(t.unchangedHosts, 'other host')}`));
}

function playOut(play: PlayChange, p: Paint, out: string[]): void {
  if (play.unchangedBefore) out.push('', p.dim(`… ${plural(play.unchangedBefore, 'unchanged play')}`));
  const mark = play.status === 'added' ? p.green('+ ') : play.status === 'removed' ? p.red('- ') : '';
  const note = play.status === 'added' ? ' — new play' : play.status === 'removed' ? ' — play removed' : play.moved ? ' — moved' : '';
  out.push('', `${mark}${p.bold(`PLAY ${play.index} · ${play.name}`)}${note}`);
  if (play.status === 'modified' && (play.hostsAdded.length || play.hostsRemoved.length)) {
    out.push(`  hosts: ${[...play.hostsAdded.map((h) => p.green(`+${h}`)), ...play.hostsRemoved.map((h) => p.red(`−${h}`))].join(' ')}`);
  }
  for (const f of play.fields) out.push(`  ${p.yellow(fieldText(f))}`);
  for (const t of play.tasks) taskOut(t, play.index, p, out);
  if (play.unchangedTasksAfter) out.push(p.dim(`  … ${plural(play.unchangedTasksAfter, 'unchanged task')}`));
}

export function renderDiffText(d: PlanDiff, opts: { color?: boolean } = {}): string {
  const p = opts.color ? COLOR : PLAIN;
  const out: string[] = [p.bold(d.summary.line)];
  out.push(p.dim(`${d.old.source} → ${d.new.source} · playbook ${d.new.playbook} · inventory ${d.new.inventory}`));
  if (!d.changed) return `${out.join('\n')}\n`;
  if (d.plan.length) out.push('', ...d.plan.map((f) => `plan ${p.yellow(fieldText(f))}`));
  if (d.connections.length) {
    out.push('');
    for (const c of d.connections) for (const f of c.fields) out.push(`host ${c.host}: ${p.yellow(fieldText(f))}`);
  }
  for (const play of d.plays) playOut(play, p, out);
  if (d.unchangedPlaysAfter) out.push('', p.dim(`… ${plural(d.unchangedPlaysAfter, 'unchanged play')}`));
  return `${out.join('\n')}\n`;
}
