// Pieces the text and markdown renderers share: the detail line of a word change, field changes,
// host lists, and shortening of very long unchanged stretches (a 1,000-member --initial-cluster).
import type { FieldChange, Span, StepGroup, TaskChange, WordChange } from './model.js';
import { wordValue } from './words.js';

/** Unchanged stretches longer than this are shortened to their ends in rendered lines. */
const LONG = 1000;
const KEEP = 160;

export interface Segment {
  text: string;
  changed: boolean;
}

/** A line cut into unchanged and changed segments; long unchanged stretches elided in the middle. */
export function segments(line: string, spans: Span[] | undefined): Segment[] {
  const out: Segment[] = [];
  let pos = 0;
  const plain = (text: string): void => {
    if (!text) return;
    const elided = text.length > LONG ? `${text.slice(0, KEEP)} …(${text.length - 2 * KEEP} characters)… ${text.slice(-KEEP)}` : text;
    out.push({ text: elided, changed: false });
  };
  for (const [a, b] of spans ?? []) {
    plain(line.slice(pos, a));
    out.push({ text: line.slice(a, b), changed: true });
    pos = b;
  }
  plain(line.slice(pos));
  return out;
}

export function shortLine(line: string): string {
  return segments(line, undefined)
    .map((s) => s.text)
    .join('');
}

export interface DetailStyle {
  /** How a flag name or a list item is shown (markdown: as code). */
  name: (s: string) => string;
  value: (s: string) => string;
}

const PLAIN_STYLE: DetailStyle = { name: (s) => s, value: (s) => s };

function listText(items: string[], sign: string, style: DetailStyle): string {
  const shown = items.slice(0, 20).map((x) => `${sign}${style.value(x)}`);
  if (items.length > 20) shown.push(`${sign}${items.length - 20} more`);
  return shown.join(' ');
}

/** One line per word change worth naming: `--flag: old → new`, `--initial-cluster: +a=… −b=…`. */
export function wordDetail(w: WordChange, style: DetailStyle = PLAIN_STYLE): string | undefined {
  if (w.added || w.removed) {
    const items = [...(w.added ?? []), ...(w.removed ?? [])];
    const label = w.key ?? (items.every((x) => /^[^=/]+=/.test(x)) ? 'members' : 'endpoints');
    const parts = [listText(w.added ?? [], '+', style), listText(w.removed ?? [], '−', style)].filter(Boolean);
    return `${style.name(label)}: ${parts.length === 0 ? 'changed outside the list' : parts.join('  ')}`;
  }
  if (!w.key) return undefined;
  const v = (x: string): string => style.value(shortLine(wordValue(x, w.key)));
  const label = style.name(w.key);
  if (w.old !== undefined && w.new !== undefined) return `${label}: ${v(w.old)} → ${v(w.new)}`;
  if (w.new !== undefined) return `${label}: added (${v(w.new)})`;
  if (w.old !== undefined) return `${label}: removed (was ${v(w.old)})`;
  return undefined;
}

export function fieldText(f: FieldChange, style: DetailStyle = PLAIN_STYLE): string {
  const v = (x: string): string => (x === '' ? '(none)' : style.value(x));
  return `${f.field}: ${v(f.old)} → ${v(f.new)}`;
}

/** "etcd-1, etcd-2" or "etcd-3 → etcd-4", with the count when the list is long. */
export function hostsText(g: StepGroup, max = 12): string {
  if (g.status === 'replaced' && g.was) return g.hosts.map((h, i) => `${g.was?.[i] ?? '?'} → ${h}`).join(', ');
  if (g.hosts.length <= max) return g.hosts.join(', ');
  return `${g.hosts.slice(0, max).join(', ')} and ${g.hosts.length - max} more (${g.hosts.length} hosts)`;
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export function statusNote(g: StepGroup): string {
  switch (g.status) {
    case 'added':
      return 'new step';
    case 'removed':
      return 'step removed';
    case 'replaced':
      return g.actions.length === 0 && g.fields.length === 0 ? 'same steps' : 'replaced host';
    case 'modified':
      return '';
  }
}

/** A task whose only change is that a host left and another came and runs the same steps. */
export function onlySameStepSwaps(t: TaskChange): boolean {
  return (
    t.status === 'modified' &&
    !t.moved &&
    t.fields.length === 0 &&
    t.steps.length > 0 &&
    t.steps.every((g) => g.status === 'replaced' && g.actions.length === 0 && g.fields.length === 0)
  );
}

export function swapsText(t: TaskChange, name: (h: string) => string = (h) => h): string {
  return t.steps.flatMap((g) => g.hosts.map((h, i) => `${name(g.was?.[i] ?? '?')} → ${name(h)}`)).join(', ');
}
