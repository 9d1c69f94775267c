// The diff as a pull-request comment: the summary line first, then one collapsed <details> block
// per changed play with ```diff fences of the command lines (-/+) and the changed flags and members
// under each. Long enough to review, short enough to read: unchanged tasks are a count, and the
// whole comment stays under GitHub's size limit.
import type { ActionChange, PlanDiff, PlayChange, Span, StepGroup, TaskChange } from './model.js';
import { fieldText, hostsText, onlySameStepSwaps, plural, segments, shortLine, statusNote, swapsText, wordDetail, type DetailStyle } from './render-common.js';

/** GitHub refuses comments over 65,536 characters. */
const MAX_CHARS = 60_000;

/** Markdown-significant characters in running text. */
function md(s: string): string {
  return s.replace(/[\\`*_[\]<>#|~]/g, (c) => (c === '<' ? '&lt;' : c === '>' ? '&gt;' : `\\${c}`));
}

/** Inline code that survives backticks in the content. */
function code(s: string): string {
  const runs = s.match(/`+/g) ?? [];
  const fence = '`'.repeat(Math.max(0, ...runs.map((r) => r.length)) + 1);
  return fence.length > 1 || s.startsWith(' ') || s.endsWith(' ') ? `${fence} ${s} ${fence}` : `${fence}${s}${fence}`;
}

function fenced(lines: string[]): string[] {
  const runs = lines.join('\n').match(/`{3,}/g) ?? [];
  const fence = '`'.repeat(Math.max(3, ...runs.map((r) => r.length + 1)));
  return [`${fence}diff`, ...lines, fence];
}

function plainSegments(line: string, spans: Span[] | undefined): string {
  return segments(line, spans)
    .map((x) => x.text)
    .join('');
}

function actionLines(a: ActionChange, lines: string[], details: string[]): void {
  if (a.context !== undefined) lines.push(`  ${shortLine(a.context)}`);
  for (const l of a.lines) {
    // Only unchanged stretches are ever shortened: what changed is always shown.
    if (l.old !== undefined) lines.push(`- ${plainSegments(l.old, l.new !== undefined ? l.oldSpans : undefined)}`);
    if (l.new !== undefined) lines.push(`+ ${plainSegments(l.new, l.old !== undefined ? l.newSpans : undefined)}`);
    for (const w of l.words) {
      const d = wordDetail(w, STYLE);
      if (d) details.push(d);
    }
  }
}

/** Flags, members and values as code; they are shown exactly as they are in the commands. */
const STYLE: DetailStyle = { name: code, value: code };

function groupMd(g: StepGroup, out: string[]): void {
  const who =
    g.status === 'replaced' && g.was
      ? g.hosts.map((h, i) => `${code(g.was?.[i] ?? '?')} → ${code(h)}`).join(', ')
      : g.hosts.length <= 12
        ? g.hosts.map(code).join(', ')
        : md(hostsText(g));
  const note = statusNote(g);
  if (g.status === 'replaced' && note === 'same steps') {
    out.push(`${who}: same steps`, '');
    return;
  }
  const extra = [note, g.shownFor ? `shown for ${code(g.shownFor)}` : ''].filter(Boolean).join(', ');
  out.push(`${who}${extra ? ` (${extra})` : ''}${g.intent ? `: ${md(g.intent)}` : ''}`);
  const lines: string[] = [];
  const details: string[] = [];
  for (const f of g.fields) details.push(fieldText(f, STYLE));
  for (const a of g.actions) actionLines(a, lines, details);
  // With an intent, the exact commands are one click down; a shell step's commands are its intent.
  if (lines.length && g.intent) out.push('', '<details><summary>commands</summary>', '', ...fenced(lines), '', '</details>', '');
  else if (lines.length) out.push(...fenced(lines));
  if (details.length) out.push(...[...new Set(details)].map((d) => `- ${d}`));
  out.push('');
}

function taskMd(t: TaskChange, playIndex: number, out: string[]): void {
  if (t.unchangedBefore) {
    if (out[out.length - 1]?.startsWith('- **')) out.push('');
    out.push(`_… ${plural(t.unchangedBefore, 'unchanged task')}_`, '');
  }
  const note = t.status === 'added' ? ' — new task' : t.status === 'removed' ? ' — task removed' : t.moved ? ' — moved' : '';
  if (onlySameStepSwaps(t)) {
    out.push(`- **${playIndex}.${t.index}** ${md(t.name)} (${code(t.module)}): ${swapsText(t, code)}, same steps`);
    return;
  }
  // A list of one-line swaps ends before the next block.
  if (out[out.length - 1]?.startsWith('- **')) out.push('');
  out.push(`**${playIndex}.${t.index} ${md(t.name)}** (${code(t.module)})${note}`, '');
  if (t.fields.length) out.push(...t.fields.map((f) => `- ${fieldText(f, STYLE)}`), '');
  for (const g of t.steps) groupMd(g, out);
  if (t.unchangedHosts && t.steps.length) out.push(`_unchanged on ${plural(t.unchangedHosts, 'other host')}_`, '');
}

function playMd(p: PlayChange): string[] {
  const out: string[] = [];
  const changedTasks = p.tasks.length;
  const what =
    p.status === 'added'
      ? 'new play'
      : p.status === 'removed'
        ? 'play removed'
        : `${changedTasks} of ${plural(p.taskCount, 'task')} changed${p.moved ? ', moved' : ''}`;
  out.push('<details>', `<summary>PLAY ${p.index} · ${md(p.name)} — ${what}</summary>`, '');
  if (p.status === 'modified' && (p.hostsAdded.length || p.hostsRemoved.length)) {
    out.push(`hosts: ${[...p.hostsAdded.map((h) => `+${code(h)}`), ...p.hostsRemoved.map((h) => `−${code(h)}`)].join(' ')}`, '');
  }
  if (p.fields.length) out.push(...p.fields.map((f) => `- ${fieldText(f, STYLE)}`), '');
  for (const t of p.tasks) taskMd(t, p.index, out);
  if (out[out.length - 1]?.startsWith('- **')) out.push('');
  if (p.unchangedTasksAfter) out.push(`_… ${plural(p.unchangedTasksAfter, 'unchanged task')}_`, '');
  out.push('</details>', '');
  return out;
}

export function renderDiffMarkdown(d: PlanDiff, opts: { maxChars?: number } = {}): string {
  const max = opts.maxChars ?? MAX_CHARS;
  const out: string[] = [`**${md(d.summary.line)}**`, ''];
  out.push(`<sub>${code(d.old.source)} → ${code(d.new.source)} · playbook ${code(d.new.playbook)} · inventory ${code(d.new.inventory)}</sub>`, '');
  if (!d.changed) return `${out.join('\n')}`.trimEnd() + '\n';
  const settings = [
    ...d.plan.map((f) => `- plan ${fieldText(f, STYLE)}`),
    ...d.connections.flatMap((c) => c.fields.map((f) => `- host ${code(c.host)}: ${fieldText(f, STYLE)}`)),
  ];
  if (settings.length) out.push(...settings, '');
  let size = out.join('\n').length;
  let unchangedPlays = 0;
  for (const [i, p] of d.plays.entries()) {
    unchangedPlays += p.unchangedBefore;
    const block = playMd(p);
    const len = block.join('\n').length;
    if (size + len > max) {
      out.push(`_… ${plural(d.plays.length - i, 'more changed play')} not shown (comment size limit): run \`runbook diff\` locally for the rest._`, '');
      break;
    }
    out.push(...block);
    size += len;
  }
  unchangedPlays += d.unchangedPlaysAfter;
  if (unchangedPlays) out.push(`_${plural(unchangedPlays, 'play')} unchanged_`);
  return `${out.join('\n').trimEnd()}\n`;
}
