// Schedules on the schedulers ops teams already run — a systemd service + timer pair, a Kubernetes
// CronJob, a GitHub Actions workflow — rendered from one interval. runbook never becomes a daemon:
// the scheduler starts `runbook apply`, and the run lock refuses an overlapping run (exit 4).
// Pure: text in, text out (the CLI reads the inventory and writes files).
import { shq } from '../shell/quote.js';

/** An interval that divides a day evenly, so every schedule fires at the same wall-clock times. */
export interface Interval {
  /** As written, e.g. "2h". */
  text: string;
  seconds: number;
  /** systemd OnCalendar= expression. */
  onCalendar: string;
  /** Five-field cron expression (Kubernetes CronJob, GitHub Actions: both UTC by default). */
  cron: string;
}

export const INTERVAL_HINT = 'use minutes that divide an hour (5m, 10m, 15m, 20m, 30m), hours that divide a day (1h, 2h, 3h, 4h, 6h, 8h, 12h) or 1d';

/** Parse `--every`: `15m`, `2h`, `1d`; null when it does not divide an hour or a day evenly. */
export function parseInterval(text: string): Interval | null {
  const m = /^([1-9][0-9]*)(m|h|d)$/.exec(text.trim());
  if (!m) return null;
  const n = Number(m[1]);
  const unit = m[2];
  if (unit === 'm' && n < 60 && 60 % n === 0 && n >= 5) {
    return { text, seconds: n * 60, onCalendar: `*-*-* *:00/${n}:00`, cron: `*/${n} * * * *` };
  }
  if ((unit === 'm' && n === 60) || (unit === 'h' && n === 1)) return { text, seconds: 3600, onCalendar: '*-*-* *:00:00', cron: '0 * * * *' };
  if (unit === 'h' && n < 24 && 24 % n === 0) return { text, seconds: n * 3600, onCalendar: `*-*-* 00/${n}:00:00`, cron: `0 */${n} * * *` };
  if ((unit === 'h' && n === 24) || (unit === 'd' && n === 1)) return { text, seconds: 86400, onCalendar: '*-*-* 00:00:00', cron: '0 0 * * *' };
  return null;
}

export interface ScheduleSpec {
  /** The playbook as the user named it (`backup`, `playbooks/backup.yml`). */
  playbook: string;
  cluster: string;
  every: Interval;
  /** Inventory path as the scheduler should pass it to `runbook apply`. */
  inventory: string;
  /** The directory runs start in (the ops repository). */
  workDir: string;
  /** The program and its leading arguments that run runbook, e.g. [node, /…/bin/runbook.js]. */
  runbook: string[];
  /** Extra `-e` arguments, passed through as written. */
  extraVars: string[];
  /** Container image holding runbook and the ops repository (CronJob). */
  image: string;
}

/** The base name of every artefact: runbook-<playbook>-<cluster>. */
export function scheduleName(spec: Pick<ScheduleSpec, 'playbook' | 'cluster'>): string {
  const pb = spec.playbook
    .replace(/^.*\//, '')
    .replace(/\.ya?ml$/, '')
    .replace(/[^a-z0-9-]+/gi, '-')
    .toLowerCase();
  return `runbook-${pb}-${spec.cluster}`;
}

/** The `runbook apply …` arguments every scheduler runs (never interactive, plain log lines). */
export function applyArgs(spec: ScheduleSpec): string[] {
  return ['apply', spec.playbook, '-i', spec.inventory, ...spec.extraVars.flatMap((e) => ['-e', e]), '--yes', '--output', 'text'];
}

/** How long one run may take before the scheduler stops it: the interval, at most 6 h, at least 10 min. */
export function runTimeoutSeconds(every: Interval): number {
  return Math.max(600, Math.min(every.seconds, 6 * 3600));
}

/**
 * One systemd command-line word: double-quoted, with `\` and `"` escaped, `%` written `%%`
 * (specifiers) and `$` written `$$` (variable expansion). Newlines cannot be expressed: refused.
 */
export function systemdWord(word: string): string {
  if (/[\n\r\0]/.test(word)) throw new TypeError(`a systemd command-line word cannot hold a newline or NUL: ${JSON.stringify(word)}`);
  return `"${word.replace(/[\\"]/g, '\\$&').replace(/%/g, '%%').replace(/\$/g, '$$$$')}"`;
}

/** A value for a systemd directive that takes a single path (WorkingDirectory=): `%` escaped. */
function systemdPath(p: string): string {
  if (/[\n\r\0]/.test(p)) throw new TypeError(`a systemd path cannot hold a newline or NUL: ${JSON.stringify(p)}`);
  return p.replace(/%/g, '%%');
}

export function renderSystemd(spec: ScheduleSpec): { service: string; timer: string; name: string } {
  const name = scheduleName(spec);
  const exec = [...spec.runbook, ...applyArgs(spec)].map(systemdWord).join(' ');
  const service = [
    '[Unit]',
    `Description=runbook ${spec.playbook} of etcd cluster ${spec.cluster}`,
    'After=network-online.target',
    'Wants=network-online.target',
    '',
    '[Service]',
    // oneshot: systemd never starts the unit again while a run is still going, so a timer that
    // elapses during a long backup is skipped, not queued; runbook's run lock refuses any other
    // apply on the cluster (exit 4) as well.
    'Type=oneshot',
    `WorkingDirectory=${systemdPath(spec.workDir)}`,
    `ExecStart=${exec}`,
    `TimeoutStartSec=${runTimeoutSeconds(spec.every)}`,
    // A stop (timeout, shutdown) is SIGTERM first: runbook stops its remote commands and writes its journal.
    'KillMode=mixed',
    'TimeoutStopSec=60',
    '',
  ].join('\n');
  const timer = [
    '[Unit]',
    `Description=runbook ${spec.playbook} of etcd cluster ${spec.cluster} every ${spec.every.text}`,
    '',
    '[Timer]',
    `OnCalendar=${spec.every.onCalendar}`,
    // A run missed while the controller was off starts at boot.
    'Persistent=true',
    // Several clusters scheduled at the same times do not all start in the same second.
    `RandomizedDelaySec=${Math.min(300, Math.floor(spec.every.seconds / 10))}`,
    'AccuracySec=1s',
    `Unit=${name}.service`,
    '',
    '[Install]',
    'WantedBy=timers.target',
    '',
  ].join('\n');
  return { service, timer, name };
}

/** A YAML double-quoted scalar (JSON strings are valid YAML). */
const y = (s: string): string => JSON.stringify(s);

export function renderCronJob(spec: ScheduleSpec): string {
  const name = scheduleName(spec);
  const args = applyArgs(spec).map((a) => `                - ${y(a)}`);
  return [
    `# ${name}: runbook ${spec.playbook} of etcd cluster ${spec.cluster} every ${spec.every.text}.`,
    `# The image holds runbook and your ops repository at ${spec.workDir}; Secret ${name}-ssh holds`,
    '# the SSH identity (id_ed25519) and known_hosts the inventory names under ~/.ssh.',
    'apiVersion: batch/v1',
    'kind: CronJob',
    'metadata:',
    `  name: ${name}`,
    '  labels:',
    '    app.kubernetes.io/name: runbook',
    `    runbook.io/cluster: ${y(spec.cluster)}`,
    'spec:',
    `  schedule: ${y(spec.every.cron)}`,
    '  timeZone: Etc/UTC',
    // Forbid: a run still going when the next is due makes Kubernetes skip the new one.
    '  concurrencyPolicy: Forbid',
    `  startingDeadlineSeconds: ${Math.min(600, spec.every.seconds)}`,
    '  successfulJobsHistoryLimit: 3',
    '  failedJobsHistoryLimit: 5',
    '  jobTemplate:',
    '    spec:',
    // A failed backup is reported and alerted on; it is not retried blindly into the next slot.
    '      backoffLimit: 0',
    `      activeDeadlineSeconds: ${runTimeoutSeconds(spec.every)}`,
    '      template:',
    '        spec:',
    '          restartPolicy: Never',
    '          containers:',
    '            - name: runbook',
    `              image: ${y(spec.image)}`,
    `              workingDir: ${y(spec.workDir)}`,
    '              command: ["runbook"]',
    '              args:',
    ...args,
    '              volumeMounts:',
    '                - name: ssh',
    '                  mountPath: /root/.ssh',
    '                  readOnly: true',
    '          volumes:',
    '            - name: ssh',
    '              secret:',
    `                secretName: ${name}-ssh`,
    '                defaultMode: 256 # 0400',
    '',
  ].join('\n');
}

export function renderGithubWorkflow(spec: ScheduleSpec): string {
  const name = scheduleName(spec);
  const run = ['npx', 'runbook', ...applyArgs(spec)].map(shq).join(' ');
  return [
    `# ${name}: runbook ${spec.playbook} of etcd cluster ${spec.cluster} every ${spec.every.text} (UTC).`,
    '# GitHub may start scheduled runs late under load; the runner must reach the cluster over SSH',
    '# (a self-hosted runner inside the network). Secrets: RUNBOOK_SSH_KEY, RUNBOOK_KNOWN_HOSTS.',
    `name: ${y(`${name}`)}`,
    'on:',
    '  schedule:',
    `    - cron: ${y(spec.every.cron)}`,
    '  workflow_dispatch: {}',
    // One run per cluster at a time; a due run waits instead of cancelling one in progress.
    'concurrency:',
    `  group: ${y(name)}`,
    '  cancel-in-progress: false',
    'permissions:',
    '  contents: read',
    'jobs:',
    '  run:',
    '    runs-on: [self-hosted]',
    `    timeout-minutes: ${Math.ceil(runTimeoutSeconds(spec.every) / 60)}`,
    '    steps:',
    '      - uses: actions/checkout@v4',
    '      - uses: actions/setup-node@v4',
    '        with:',
    '          node-version: 20',
    '      - run: npm ci',
    '      - name: SSH identity and known hosts',
    '        env:',
    '          RUNBOOK_SSH_KEY: ${{ secrets.RUNBOOK_SSH_KEY }}',
    '          RUNBOOK_KNOWN_HOSTS: ${{ secrets.RUNBOOK_KNOWN_HOSTS }}',
    '        run: |',
    '          install -d -m 0700 ~/.ssh',
    '          (umask 077; printf \'%s\\n\' "$RUNBOOK_SSH_KEY" > ~/.ssh/id_ed25519)',
    '          printf \'%s\\n\' "$RUNBOOK_KNOWN_HOSTS" > ~/.ssh/known_hosts',
    `      - name: ${y(`runbook ${spec.playbook}`)}`,
    `        working-directory: ${y(spec.workDir)}`,
    `        run: ${y(run)}`,
    '',
  ].join('\n');
}
