// The plan as a reviewer reads it: per play and task, what each host will run. Hosts whose steps
// are identical are shown once with the host list; per-host differences stay visible.
import type { Action, Plan, PlannedTask, Step } from '../model/types.js';
import { quorumLines } from './quorum-text.js';

function shortSha(s: string): string {
  return s.slice(0, 12);
}

export function describeAction(a: Action): string[] {
  const when = a.when ? `  [only when ${a.when}]` : '';
  const bind = a.bind ? `  → _.${a.bind}` : '';
  switch (a.kind) {
    case 'exec': {
      const lines = [`$ ${a.cmd}${a.probe ? '  (read-only)' : ''}${bind}${when}`];
      if (a.note) lines.push(`  # ${a.note}`);
      if (a.stdin !== undefined) lines.push(`  <<< stdin, ${Buffer.byteLength(a.stdin)} bytes`);
      if (a.okCodes) lines.push(`  # exit codes accepted: ${a.okCodes.join(', ')}`);
      return lines;
    }
    case 'local':
      return [`[controller] $ ${a.cmd}${a.probe ? '  (read-only)' : ''}${bind}${when}`];
    case 'put': {
      const owner = a.owner ? `, owner ${a.owner}` : '';
      const from = a.src ? ` from controller file ${a.src}` : '';
      const sha = a.sha256 ? `, sha256 must be ${a.sha256.startsWith('⟨') ? a.sha256 : shortSha(a.sha256)}` : '';
      // The listen address differs per host; it stays in the JSON plan so that identical steps still group here.
      const zstd = a.relay?.compress === 'auto' ? 'when it pays' : a.relay?.compress === 'zstd' ? 'on' : 'off';
      const relay = a.relay
        ? `, relayed: sent once, each host pulls it from the one before it in task order on its etcd peer address (zstd ${zstd}; ` +
          'parallel copies when a host lacks python3)'
        : '';
      const head = `put ${a.dest} (mode ${a.mode}${owner})${from}${sha}${relay}${when}`;
      if (a.content === undefined) return [head];
      if (/^⟨!?_\.[^⟩]+⟩$/.test(a.content)) return [`${head} with content ${a.content}`];
      return [
        head,
        ...a.content
          .replace(/\n$/, '')
          .split('\n')
          .map((l) => `  | ${l}`),
      ];
    }
    case 'get':
      return [`fetch ${a.src} → controller ${a.dest}${when}`];
    case 'check':
      return a.that.map((c) => `assert ${c}`).concat(a.message ? [`  # else: ${a.message}`] : []);
    case 'fail':
      return [`fail: ${a.message}`];
    case 'pause':
      return [a.prompt ? `confirm: ${a.prompt}` : `pause ${a.seconds ?? 0}s`];
    case 'set_fact':
      return Object.keys(a.facts)
        .sort()
        .map((k) => `set ${k} = ${JSON.stringify(a.facts[k])}`);
    case 'wait':
      return [`wait up to ${a.timeoutSec}s until ${a.what}${when}`];
    case 'derive': {
      const args = a.args.map((x) => (typeof x === 'string' && x.startsWith('⟨') ? x : JSON.stringify(x))).join(', ');
      return [`compute _.${a.bind ?? '?'} = ${a.fn}(${args})${when}`];
    }
    case 'remote': {
      // Keys sorted: the plan text is stable whatever order a module wrote them in.
      const args = Object.keys(a.args)
        .sort()
        .map((k) => `${k}=${JSON.stringify(a.args[k])}`)
        .join(' ');
      return [`[controller] ${a.op} ${args}${bind}${when}`];
    }
  }
}

function taskHeader(t: PlannedTask, playIndex: number): string {
  const flags: string[] = [];
  if (t.runOnce) flags.push('run_once');
  if (t.delegateTo) flags.push(`delegate_to ${t.delegateTo}`);
  if (t.register) flags.push(`register ${t.register}`);
  if (t.when.length) flags.push(`when ${t.when.join(' and ')}`);
  if (t.retries) flags.push(`retries ${t.retries} every ${t.delaySec}s${t.until.length ? ` until ${t.until.join(' and ')}` : ''}`);
  if (t.changedWhen) flags.push(`changed_when ${t.changedWhen.join(' and ')}`);
  if (t.failedWhen) flags.push(`failed_when ${t.failedWhen.join(' and ')}`);
  if (t.ignoreErrors) flags.push('ignore_errors');
  if (t.ignoreUnreachable) flags.push('ignore_unreachable');
  if (t.become) flags.push('become');
  flags.push(`timeout ${t.timeoutSec}s`);
  if (t.checkMode) flags.push('read-only');
  return `  TASK ${playIndex}.${t.index} · ${t.name}  (${t.module})\n    ${flags.join(' · ')}`;
}

/** What a step shows, as lines; hosts whose lines are equal are shown together. */
export function stepLines(s: Step, opts: { verbose?: boolean } = {}): string[] {
  if (s.skip) return [`skipped (${s.skip})`];
  if (s.actions.length === 0) return ['nothing to do'];
  const lines: string[] = [];
  if (s.intent) lines.push(s.intent);
  if (s.when) lines.push(`[run only when ${s.when.join(' and ')}]`);
  if (s.until) lines.push(`[retry until ${s.until.join(' and ')}]`);
  // The intent is the review line; the exact commands are one level down (--verbose). A step
  // without an intent (shell, copy, …) shows its commands: what its author wrote is its intent.
  if (!s.intent || opts.verbose) for (const a of s.actions) lines.push(...(s.intent ? describeAction(a).map((l) => `  ${l}`) : describeAction(a)));
  return lines;
}

export interface PlanTextOptions {
  /** Show the exact commands under each step's intent (golden plans and `plan --verbose`). */
  verbose?: boolean;
}

function renderTask(out: string[], t: PlannedTask, playIndex: number, hosts: Set<string> | undefined, opts: PlanTextOptions): void {
  out.push('');
  out.push(taskHeader(t, playIndex));
  out.push(...quorumLines(t));
  // Group hosts with identical steps, keeping the order in which hosts first appear.
  const groups = new Map<string, { hosts: string[]; lines: string[]; via: string; intent: boolean }>();
  const steps = hosts ? t.steps.filter((s) => hosts.has(s.host)) : t.steps;
  for (const s of steps) {
    const lines = stepLines(s, opts);
    const via = s.target !== s.host && !s.skip ? ` (on ${s.target})` : '';
    const key = `${via}\n${lines.join('\n')}`;
    const g = groups.get(key);
    if (g) g.hosts.push(s.host);
    else groups.set(key, { hosts: [s.host], lines, via, intent: !s.skip && s.actions.length > 0 && s.intent !== undefined });
  }
  for (const g of groups.values()) {
    const who = g.hosts.join(', ');
    const [first, ...rest] = g.lines;
    // Skips, "nothing to do" and an intent stay on the host line; commands go below it.
    if (g.intent || (g.lines.length === 1 && (first?.startsWith('skipped (') || first === 'nothing to do'))) {
      out.push(`    ${who}${g.via}: ${first ?? ''}`);
      for (const l of rest) out.push(`      ${l}`);
      continue;
    }
    out.push(`    ${who}${g.via}:`);
    for (const l of g.lines) out.push(`      ${l}`);
  }
  if (steps.length === 0) out.push('    (no hosts)');
}

export function renderPlanText(plan: Plan, opts: PlanTextOptions = {}): string {
  const out: string[] = [];
  out.push(`runbook plan · playbook ${plan.playbook} · inventory ${plan.inventory} · cluster ${plan.cluster}${plan.limit ? ` · limit ${plan.limit}` : ''}`);
  out.push(`format ${plan.format}/${plan.version} · runbook ${plan.runbook}${plan.destructive ? ' · DESTRUCTIVE (apply asks for confirmation)' : ''}`);
  for (const i of plan.inputs) out.push(`  input ${i.role.padEnd(10)} ${i.path}  sha256:${shortSha(i.sha256)}`);
  const needs = new Set<string>();
  plan.plays.forEach((p) => p.tasks.forEach((t) => t.steps.forEach((s) => s.needs.forEach((n) => needs.add(n)))));
  if (needs.size)
    out.push(
      `  run-time values (filled in when applied): ${[...needs]
        .sort()
        .map((n) => `⟨${n}⟩`)
        .join(' ')}`,
    );
  if (!opts.verbose) out.push('  (the exact commands: runbook plan --verbose, or --format json)');
  for (const play of plan.plays) {
    out.push('');
    const serial = play.batches.length > 1 ? ` · serial batches ${play.batches.map((b) => b.length).join('/')}` : '';
    const flags = [
      play.destructive ? 'destructive' : '',
      play.anyErrorsFatal ? 'any_errors_fatal' : '',
      play.maxFailPercentage !== undefined ? `max_fail_percentage ${play.maxFailPercentage}` : '',
      play.always ? 'always (runs even after a failure)' : '',
    ].filter(Boolean);
    out.push(`PLAY ${play.index} · ${play.name}`);
    out.push(`  hosts ${play.pattern} → ${play.hosts.join(', ') || '(none)'}${serial}${flags.length ? ` · ${flags.join(' · ')}` : ''}`);
    if (play.batches.length > 1) {
      // serial: every task runs on one batch before the next batch starts, so that is how it reads.
      play.batches.forEach((batch, i) => {
        out.push('');
        out.push(`  BATCH ${i + 1}/${play.batches.length} · ${batch.join(', ')}`);
        for (const t of play.tasks) renderTask(out, t, play.index, new Set(batch), opts);
      });
      continue;
    }
    for (const t of play.tasks) renderTask(out, t, play.index, undefined, opts);
  }
  return `${out.join('\n')}\n`;
}
