// runbook schedule: intervals that divide a day, systemd units that `systemd-analyze verify` accepts
// and whose OnCalendar fires at the interval (`systemd-analyze calendar`), a CronJob and a GitHub
// workflow that parse and run the same `runbook apply`, hostile values quoted for each format, and
// refusals (bad interval, invalid inventory, destructive playbook) that write nothing.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { runSchedule, type ScheduleOptions } from '../../engine/cli/schedule.js';
import { applyArgs, parseInterval, renderGithubWorkflow, renderSystemd, systemdWord, type ScheduleSpec } from '../../engine/schedule/render.js';
import { EXIT } from '../../engine/model/io.js';
import { captureIo, type CapturedIo } from '../support/io.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const INVENTORY = join(ROOT, 'inventories', 'prod-3-https.yml');

/**
 * Read ExecStart= the way systemd does, strictly: double-quoted words with \-escapes, where `%%` is
 * a literal % and `$$` a literal $. A lone `%x` (a specifier) or `$x` (a variable) would be expanded
 * by systemd, so it is an error here.
 */
function systemdArgv(line: string): string[] {
  const words: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"/g;
  for (const m of line.matchAll(re)) {
    const raw = (m[1] ?? '').replace(/\\(.)/g, '$1');
    if (/%(?!%)/.test(raw.replace(/%%/g, '')) || /\$(?!\$)/.test(raw.replace(/\$\$/g, ''))) throw new Error(`systemd would expand ${raw}`);
    words.push(raw.replace(/%%/g, '%').replace(/\$\$/g, '$'));
  }
  assert.equal(line.replace(re, '').trim(), '', 'every word is quoted');
  return words;
}

/** The next `n` elapses of an OnCalendar expression, as systemd computes them (epoch seconds). */
function elapses(expr: string, n: number): number[] {
  const args = ['calendar', `--iterations=${n}`, '--base-time=2026-12-07 00:30:00 UTC', expr];
  const out = execFileSync('systemd-analyze', args, { encoding: 'utf8', env: { ...process.env, TZ: 'UTC', SYSTEMD_COLORS: '0' } });
  const stamps = [...out.matchAll(/(?:Next elapse|Iter\. #\d+): \w{3} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC/g)];
  return stamps.map((m) => Date.parse(`${m[1] ?? ''}Z`.replace(' ', 'T')) / 1000);
}

function schedule(playbook: string, o: Partial<ScheduleOptions> & { inventory?: string }): { code: number; io: CapturedIo } {
  const io = captureIo();
  const code = runSchedule(playbook, { inventory: INVENTORY, every: '2h', target: 'all', extraVars: [], ...o }, io);
  return { code, io };
}

describe('runbook schedule', function () {
  this.timeout(60_000);
  let dir: string;
  const cwd = process.cwd();
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'runbook-schedule-'));
    process.chdir(ROOT); // the CronJob and workflow take inventory paths relative to the ops repository
  });
  afterEach(() => {
    process.chdir(cwd);
    rmSync(dir, { recursive: true, force: true });
  });

  it('--every: only intervals that divide an hour or a day; each maps to OnCalendar and cron', () => {
    const table: [string, string, string][] = [
      ['5m', '*-*-* *:00/5:00', '*/5 * * * *'],
      ['15m', '*-*-* *:00/15:00', '*/15 * * * *'],
      ['60m', '*-*-* *:00:00', '0 * * * *'],
      ['1h', '*-*-* *:00:00', '0 * * * *'],
      ['2h', '*-*-* 00/2:00:00', '0 */2 * * *'],
      ['12h', '*-*-* 00/12:00:00', '0 */12 * * *'],
      ['1d', '*-*-* 00:00:00', '0 0 * * *'],
      ['24h', '*-*-* 00:00:00', '0 0 * * *'],
    ];
    for (const [text, cal, cron] of table) assert.deepEqual([parseInterval(text)?.onCalendar, parseInterval(text)?.cron], [cal, cron], text);
    for (const bad of ['7m', '1m', '90m', '5h', '0h', '2d', '2 hours', '-1h', '1.5h', '', '2H']) assert.equal(parseInterval(bad), null, bad);
  });

  it('each OnCalendar fires exactly at its interval, as systemd-analyze calendar computes it', () => {
    for (const text of ['5m', '15m', '1h', '2h', '6h', '1d']) {
      const every = parseInterval(text);
      assert.ok(every);
      const times = elapses(every.onCalendar, 4);
      assert.equal(times.length, 4, `${text}: ${every.onCalendar}`);
      for (let i = 1; i < times.length; i++) assert.equal((times[i] ?? 0) - (times[i - 1] ?? 0), every.seconds, `${text} step ${i}`);
      assert.equal((times[0] ?? 1) % every.seconds, 0, `${text} fires on the interval's boundaries`);
    }
  });

  it('--install writes a service and timer that systemd-analyze verify accepts, a CronJob and a workflow that parse', () => {
    const { code, io } = schedule('backup', { install: dir });
    assert.equal(code, EXIT.OK, io.stderr());
    assert.deepEqual(readdirSync(dir).sort(), [
      'runbook-backup-prod.cronjob.yaml',
      'runbook-backup-prod.service',
      'runbook-backup-prod.timer',
      'runbook-backup-prod.yml',
    ]);
    const v = spawnSync('systemd-analyze', ['verify', join(dir, 'runbook-backup-prod.service'), join(dir, 'runbook-backup-prod.timer')], { encoding: 'utf8' });
    assert.equal(v.status, 0, `${v.stdout}${v.stderr}`);
    assert.doesNotMatch(`${v.stdout}${v.stderr}`, /runbook-backup-prod/, 'no warning about our units');

    const service = readFileSync(join(dir, 'runbook-backup-prod.service'), 'utf8');
    const exec = /^ExecStart=(.*)$/m.exec(service)?.[1] ?? '';
    assert.deepEqual(systemdArgv(exec), [process.execPath, join(ROOT, 'bin', 'runbook.js'), 'apply', 'backup', '-i', INVENTORY, '--yes', '--output', 'text']);
    assert.match(service, /^Type=oneshot$/m);
    assert.match(readFileSync(join(dir, 'runbook-backup-prod.timer'), 'utf8'), /^OnCalendar=\*-\*-\* 00\/2:00:00$/m);

    const cron = parse(readFileSync(join(dir, 'runbook-backup-prod.cronjob.yaml'), 'utf8')) as {
      kind: string;
      spec: {
        schedule: string;
        concurrencyPolicy: string;
        jobTemplate: { spec: { backoffLimit: number; template: { spec: { containers: { args: string[] }[] } } } };
      };
    };
    assert.equal(cron.kind, 'CronJob');
    assert.equal(cron.spec.schedule, '0 */2 * * *');
    assert.equal(cron.spec.concurrencyPolicy, 'Forbid');
    assert.equal(cron.spec.jobTemplate.spec.backoffLimit, 0);
    assert.deepEqual(cron.spec.jobTemplate.spec.template.spec.containers[0]?.args, [
      'apply',
      'backup',
      '-i',
      'inventories/prod-3-https.yml',
      '--yes',
      '--output',
      'text',
    ]);

    const wf = parse(readFileSync(join(dir, 'runbook-backup-prod.yml'), 'utf8')) as {
      on: { schedule: { cron: string }[] };
      concurrency: { group: string; 'cancel-in-progress': boolean };
      jobs: { run: { steps: { run?: string }[] } };
    };
    assert.equal(wf.on.schedule[0]?.cron, '0 */2 * * *');
    assert.deepEqual(wf.concurrency, { group: 'runbook-backup-prod', 'cancel-in-progress': false });
    assert.ok(wf.jobs.run.steps.some((s) => s.run === 'npx runbook apply backup -i inventories/prod-3-https.yml --yes --output text'));
  });

  it('hostile paths and -e values stay one word in every format (systemd, shell, YAML)', () => {
    const hostile = ['a b', 'x"$(touch /tmp/p)"y', "it's", '100%', '$HOME', 'back\\slash', '`id`', '; rm -rf /'];
    const every = parseInterval('1h');
    assert.ok(every);
    const spec: ScheduleSpec = {
      playbook: 'backup',
      cluster: 'prod',
      every,
      inventory: '/srv/o p%s/inv $x.yml',
      workDir: '/srv/o p%s',
      runbook: ['/usr/bin/node', '/opt/run book/bin/runbook.js'],
      extraVars: hostile.map((h) => `k=${h}`),
      image: 'r:1',
    };
    const exec = /^ExecStart=(.*)$/m.exec(renderSystemd(spec).service)?.[1] ?? '';
    assert.deepEqual(systemdArgv(exec), [...spec.runbook, ...applyArgs(spec)]);
    assert.throws(() => systemdWord('a\nb'), /newline/);
    const wf = parse(renderGithubWorkflow({ ...spec, inventory: 'inv.yml', workDir: '.' })) as { jobs: { run: { steps: { run?: string }[] } } };
    const line = wf.jobs.run.steps.at(-1)?.run ?? '';
    const argv = execFileSync('/bin/bash', ['-c', `set -- ${line}; printf '%s\\0' "$@"`], { encoding: 'utf8' })
      .split('\0')
      .slice(0, -1);
    assert.deepEqual(argv, ['npx', 'runbook', ...applyArgs({ ...spec, inventory: 'inv.yml' })]);
    assert.equal(existsSync('/tmp/p'), false);
  });

  it('an existing different file is moved aside, never overwritten; an identical one is left alone', () => {
    const now = new Date('2026-12-07T10:00:00Z');
    assert.equal(schedule('backup', { install: dir, target: 'systemd', now }).code, EXIT.OK);
    writeFileSync(join(dir, 'runbook-backup-prod.timer'), '# edited by hand\n');
    const again = schedule('backup', { install: dir, target: 'systemd', now });
    assert.equal(again.code, EXIT.OK);
    assert.match(again.io.stderr(), /unchanged .*runbook-backup-prod\.service/);
    assert.equal(readFileSync(join(dir, 'runbook-backup-prod.timer.bak-20261207T100000Z'), 'utf8'), '# edited by hand\n');
    assert.match(readFileSync(join(dir, 'runbook-backup-prod.timer'), 'utf8'), /^OnCalendar=/m);
  });

  it('refused with exit 2 and nothing written: a bad interval, an invalid inventory, a destructive playbook, an inventory outside the repository', () => {
    const badEvery = schedule('backup', { install: dir, every: '7m' });
    assert.equal(badEvery.code, EXIT.INVALID);
    assert.match(badEvery.io.stderr(), /--every "7m" is not an interval[\s\S]*hint: use minutes that divide an hour/);

    const inv = join(dir, 'bad.yml');
    writeFileSync(inv, 'cluster:\n  name: Prod!\nhosts: {}\ngroups: {}\n');
    const badInv = schedule('backup', { install: join(dir, 'out'), inventory: inv, target: 'systemd' });
    assert.equal(badInv.code, EXIT.INVALID);
    assert.match(badInv.io.stderr(), /bad\.yml:\d+:\d+/);

    const destructive = schedule('restore-all', { install: join(dir, 'out') });
    assert.equal(destructive.code, EXIT.INVALID);
    assert.match(destructive.io.stderr(), /restore-all is destructive .* never run unattended/);

    mkdirSync(join(dir, 'elsewhere'));
    writeFileSync(join(dir, 'elsewhere', 'inv.yml'), readFileSync(INVENTORY, 'utf8'));
    const outside = schedule('backup', { install: join(dir, 'out'), inventory: join(dir, 'elsewhere', 'inv.yml'), target: 'cronjob' });
    assert.equal(outside.code, EXIT.INVALID);
    assert.match(outside.io.stderr(), /outside the current directory/);
    assert.equal(existsSync(join(dir, 'out')), false, 'nothing was written');
  });
});
