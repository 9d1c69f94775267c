// runbook schedule PLAYBOOK -i INVENTORY --every 2h [--target systemd|cronjob|github|all] [--install DIR]
// Prints (or writes) what runs the playbook periodically on a scheduler ops teams already have. The
// playbook and inventory are compiled first, exactly as `runbook plan` would: a schedule that is
// certain to fail, or that would run a destructive playbook unattended, is refused (exit 2).
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { buildPlan } from './inputs.js';
import { formatDiagnostics } from '../report/diagnostics-text.js';
import { PACKAGE_ROOT } from '../package/root.js';
import { RUNBOOK_VERSION } from './version.js';
import { EXIT, type Io } from '../model/io.js';
import { INTERVAL_HINT, parseInterval, renderCronJob, renderGithubWorkflow, renderSystemd, scheduleName, type ScheduleSpec } from '../schedule/render.js';

export const SCHEDULE_TARGETS = ['systemd', 'cronjob', 'github', 'all'] as const;
export type ScheduleTarget = (typeof SCHEDULE_TARGETS)[number];

export interface ScheduleOptions {
  inventory: string;
  every: string;
  target: ScheduleTarget;
  extraVars: string[];
  install?: string;
  image?: string;
  /** For tests: the moment used in names of files moved aside. */
  now?: Date;
}

interface Artefact {
  file: string;
  text: string;
}

function refuse(io: Io, msg: string, hint: string): number {
  io.err(`runbook schedule: ${msg}\n  hint: ${hint}\n`);
  return EXIT.INVALID;
}

export function runSchedule(playbook: string, opts: ScheduleOptions, io: Io): number {
  const every = parseInterval(opts.every);
  if (!every) return refuse(io, `--every ${JSON.stringify(opts.every)} is not an interval that divides an hour or a day`, INTERVAL_HINT);
  const r = buildPlan({ playbook, inventory: opts.inventory, extraVars: opts.extraVars });
  if (!r.plan || !r.inventory) {
    io.err(formatDiagnostics(r.diagnostics, r.texts));
    return EXIT.INVALID;
  }
  if (r.plan.destructive) {
    const plays = r.plan.plays.filter((p) => p.destructive).map((p) => p.name);
    return refuse(
      io,
      `${playbook} is destructive (${plays.join(', ')}): it is never run unattended on a schedule`,
      'schedule read-only or additive playbooks such as backup; run destructive ones by hand after review',
    );
  }
  // The CronJob and the workflow run from the root of the ops repository: the inventory must be inside it.
  const inventoryInRepo = relative(process.cwd(), resolve(opts.inventory));
  if (opts.target !== 'systemd' && (inventoryInRepo.startsWith('..') || isAbsolute(inventoryInRepo))) {
    return refuse(
      io,
      `the inventory ${opts.inventory} is outside the current directory`,
      'run runbook schedule from the root of your ops repository, where the scheduled job will start',
    );
  }
  const base: Omit<ScheduleSpec, 'inventory' | 'workDir' | 'runbook'> = {
    playbook,
    cluster: r.inventory.cluster.name,
    every,
    extraVars: opts.extraVars,
    image: opts.image ?? `runbook:${RUNBOOK_VERSION}`,
  };
  const name = scheduleName(base);
  const artefacts: Artefact[] = [];
  const want = (t: ScheduleTarget): boolean => opts.target === t || opts.target === 'all';
  if (want('systemd')) {
    const runbook = [process.execPath, join(PACKAGE_ROOT, 'bin', 'runbook.js')];
    const s = renderSystemd({ ...base, inventory: resolve(opts.inventory), workDir: process.cwd(), runbook });
    artefacts.push({ file: `${name}.service`, text: s.service }, { file: `${name}.timer`, text: s.timer });
  }
  if (want('cronjob')) {
    artefacts.push({ file: `${name}.cronjob.yaml`, text: renderCronJob({ ...base, inventory: inventoryInRepo, workDir: '/ops', runbook: ['runbook'] }) });
  }
  if (want('github')) {
    artefacts.push({ file: `${name}.yml`, text: renderGithubWorkflow({ ...base, inventory: inventoryInRepo, workDir: '.', runbook: ['npx', 'runbook'] }) });
  }

  if (opts.install === undefined) {
    for (const a of artefacts) io.out(`# ── ${a.file} ──\n${a.text}\n`);
    return EXIT.OK;
  }
  const dir = resolve(opts.install);
  mkdirSync(dir, { recursive: true });
  const stamp = (opts.now ?? new Date())
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  for (const a of artefacts) {
    const dest = join(dir, a.file);
    if (existsSync(dest)) {
      if (readFileSync(dest, 'utf8') === a.text) {
        io.err(`unchanged ${dest}\n`);
        continue;
      }
      // An edited or older file is moved aside, never overwritten.
      renameSync(dest, `${dest}.bak-${stamp}`);
      io.err(`moved the previous ${a.file} to ${dest}.bak-${stamp}\n`);
    }
    writeFileSync(`${dest}.tmp`, a.text, { mode: 0o644 });
    renameSync(`${dest}.tmp`, dest);
    io.err(`wrote ${dest}\n`);
  }
  if (want('systemd')) io.err(`next: systemctl daemon-reload && systemctl enable --now ${name}.timer\n`);
  if (want('cronjob')) {
    const secret = `kubectl create secret generic ${name}-ssh --from-file=id_ed25519=… --from-file=known_hosts=…`;
    io.err(`next: ${secret} && kubectl apply -f ${join(dir, `${name}.cronjob.yaml`)}\n`);
  }
  if (want('github')) io.err(`next: move ${name}.yml to .github/workflows/ and add the secrets RUNBOOK_SSH_KEY and RUNBOOK_KNOWN_HOSTS\n`);
  return EXIT.OK;
}
