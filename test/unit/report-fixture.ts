// A realistic run as data for the reporter tests: 2 plays on 3 hosts, a run_once register, a retry,
// set_fact, a skipped step, an ignored failure, an unreachable host, a serial play with a failure
// that aborts it, and secrets in commands, output, messages and nested values.
import type { Emit, EventMap, EventName, StepResult } from '../../engine/model/events.js';
import type { Action, Json, Plan, PlannedTask, Step } from '../../engine/model/types.js';
import { taskDefaults } from './executor-fakes.js';

export const SECRET = 's3cr3t-Pa55';
export const SHORT_SECRET = 'Q7';
export const PEM_LINE = 'AAAAsecretline1';
export const PEM = `-----BEGIN KEY-----\n${PEM_LINE}\nBBBBsecretline2\n-----END KEY-----`;
export const SECRETS = [SECRET, SHORT_SECRET, PEM];
/** Strings that must never appear in anything a reporter writes. */
export const FORBIDDEN = [SECRET, SHORT_SECRET, PEM_LINE, 'BBBBsecretline2', 's3cr3t'];

const src = { file: 'site.yml', line: 1, col: 1 };
export const HOSTS = ['etcd-1', 'etcd-2', 'etcd-3'];

function step(play: number, task: number, host: string, actions: Action[], skip?: string): Step {
  return { id: `${play}.${task}@${host}`, host, target: host, actions, needs: [], ...(skip ? { skip } : {}) };
}

function task(play: number, index: number, name: string, module: string, hosts: string[], actions: Action[], extra: Partial<PlannedTask> = {}): PlannedTask {
  return {
    ...taskDefaults(src),
    index,
    name,
    module,
    timeoutSec: 60,
    become: true,
    ...extra,
    steps: hosts.map((h) => step(play, index, h, actions)),
  };
}

const ssh = { user: 'root', port: 22, knownHosts: '~/.ssh/known_hosts', hostKeyChecking: 'strict' as const, connectTimeoutSec: 10, keepaliveSec: 15 };

export function fixturePlan(): Plan {
  return {
    format: 'runbook-plan',
    version: 1,
    runbook: '0.1.0',
    playbook: 'playbooks/restart.yml',
    inventory: 'inventories/three.yml',
    cluster: 'demo',
    inputs: [],
    hosts: Object.fromEntries(HOSTS.map((h, i) => [h, { address: `10.0.0.${i + 1}`, ssh }])),
    secretVars: ['etcd_password'],
    destructive: false,
    plays: [
      {
        index: 1,
        name: 'Check cluster',
        pattern: 'etcd',
        hosts: HOSTS,
        batches: [HOSTS],
        anyErrorsFatal: false,
        destructive: false,
        tasks: [
          task(1, 1, 'Read member list', 'command', ['etcd-1'], [{ kind: 'exec', cmd: 'etcdctl member list -w json' }], { runOnce: true, register: 'members' }),
          task(1, 2, 'Check health', 'etcd_health', HOSTS, [{ kind: 'exec', cmd: 'etcdctl endpoint health' }], {
            register: 'health',
            retries: 3,
            delaySec: 2,
            until: ['health.rc == 0'],
          }),
          task(1, 3, 'Remember leader', 'set_fact', ['etcd-1', 'etcd-2'], [{ kind: 'set_fact', facts: { leader: 'etcd-1' } }]),
          task(1, 4, 'Compact on leader', 'shell', ['etcd-1', 'etcd-2'], [{ kind: 'exec', cmd: 'etcdctl compact 42' }], { when: ['is_leader'] }),
          task(1, 5, 'Optional probe', 'command', ['etcd-1'], [{ kind: 'exec', cmd: 'false' }], { ignoreErrors: true }),
        ],
      },
      {
        index: 2,
        name: 'Restart etcd',
        pattern: 'etcd',
        hosts: HOSTS,
        batches: [['etcd-1'], ['etcd-2'], ['etcd-3']],
        anyErrorsFatal: true,
        destructive: false,
        tasks: [
          task(2, 1, 'Stop etcd', 'service', HOSTS, [{ kind: 'exec', cmd: 'systemctl stop etcd' }]),
          task(2, 2, 'Start etcd', 'service', HOSTS, [{ kind: 'exec', cmd: `ETCDCTL_PASSWORD=${SECRET} systemctl start etcd` }]),
        ],
      },
    ],
  };
}

function result(status: StepResult['status'], value: Json, extra: Partial<StepResult> = {}): StepResult {
  return { status, value, attempts: 1, actions: [], durationMs: 400, ...extra };
}

export const MEMBERS_VALUE: Json = {
  rc: 0,
  stdout: '{"members":[]}',
  stderr: '',
  json: { members: [{ name: 'etcd-1' }], auth: { password: SECRET, key: [PEM_LINE] } },
};

export const RECAP = {
  'etcd-1': { ok: 6, changed: 3, failed: 0, unreachable: 0, skipped: 0, unknown: 0, ignored: 1 },
  'etcd-2': { ok: 2, changed: 0, failed: 1, unreachable: 0, skipped: 1, unknown: 0, ignored: 0 },
  'etcd-3': { ok: 0, changed: 0, failed: 0, unreachable: 1, skipped: 0, unknown: 0, ignored: 0 },
};

type Call = { [K in EventName]: [K, EventMap[K]] }[EventName];

/** A step.end on `host` (its own target). */
function stepEnd(play: number, task: number, host: string, r: StepResult): Call {
  return ['step.end', { play, task, stepId: `${play}.${task}@${host}`, host, target: host, result: r }];
}

/** The event sequence, as the executor would emit it (hosts interleaved inside a task). */
export function fixtureEvents(opts: { withRunEnd?: boolean } = {}): Call[] {
  const ev: Call[] = [
    ['run.start', { runId: 'r1', playbook: 'playbooks/restart.yml', inventory: 'inventories/three.yml', check: false, hosts: HOSTS, inputs: [] }],
    ['play.start', { play: 1, name: 'Check cluster', hosts: HOSTS }],
    ['task.start', { play: 1, task: 1, name: 'Read member list', module: 'command', hosts: ['etcd-1'] }],
    ['step.start', { play: 1, task: 1, stepId: '1.1@etcd-1', host: 'etcd-1', target: 'etcd-1', attempt: 1 }],
    ['step.output', { stepId: '1.1@etcd-1', host: 'etcd-1', stream: 'stdout', text: 'member etcd-1 started, auth s3cr3' }],
    ['step.output', { stepId: '1.1@etcd-1', host: 'etcd-1', stream: 'stdout', text: 't-Pa55 ok\nsecond line\n' }],
    stepEnd(
      1,
      1,
      'etcd-1',
      result('ok', MEMBERS_VALUE, {
        actions: [
          {
            index: 0,
            kind: 'exec',
            cmd: 'etcdctl member list -w json',
            code: 0,
            durationMs: 300,
            stdoutTail: `member etcd-1 started, auth ${SECRET} ok\nsecond line\n`,
          },
        ],
      }),
    ),
    ['task.end', { play: 1, task: 1 }],
    ['task.start', { play: 1, task: 2, name: 'Check health', module: 'etcd_health', hosts: HOSTS }],
    ['step.start', { play: 1, task: 2, stepId: '1.2@etcd-1', host: 'etcd-1', target: 'etcd-1', attempt: 1 }],
    ['step.start', { play: 1, task: 2, stepId: '1.2@etcd-2', host: 'etcd-2', target: 'etcd-2', attempt: 1 }],
    ['step.start', { play: 1, task: 2, stepId: '1.2@etcd-3', host: 'etcd-3', target: 'etcd-3', attempt: 1 }],
    stepEnd(1, 2, 'etcd-1', result('ok', { rc: 0, stdout: 'healthy', stderr: '' })),
    stepEnd(1, 2, 'etcd-3', result('unreachable', null, { message: 'ssh: connect to 10.0.0.3:22: ECONNREFUSED' })),
    ['host.unreachable', { host: 'etcd-3', message: 'ssh: connect to 10.0.0.3:22: ECONNREFUSED' }],
    ['step.retry', { stepId: '1.2@etcd-2', host: 'etcd-2', attempt: 1, delaySec: 2, reason: 'until not met: health.rc == 0' }],
    ['step.start', { play: 1, task: 2, stepId: '1.2@etcd-2', host: 'etcd-2', target: 'etcd-2', attempt: 2 }],
    stepEnd(1, 2, 'etcd-2', result('ok', { rc: 0, stdout: 'healthy', stderr: '' }, { attempts: 2, durationMs: 2600 })),
    ['task.end', { play: 1, task: 2 }],
    ['task.start', { play: 1, task: 3, name: 'Remember leader', module: 'set_fact', hosts: ['etcd-1', 'etcd-2'] }],
    stepEnd(1, 3, 'etcd-1', result('ok', { leader: 'etcd-1' })),
    stepEnd(1, 3, 'etcd-2', result('ok', { leader: 'etcd-1' })),
    ['task.end', { play: 1, task: 3 }],
    ['task.start', { play: 1, task: 4, name: 'Compact on leader', module: 'shell', hosts: ['etcd-1', 'etcd-2'] }],
    stepEnd(1, 4, 'etcd-1', result('changed', { rc: 0, stdout: 'compacted', stderr: '' }, { durationMs: 1200 })),
    stepEnd(1, 4, 'etcd-2', result('skipped', null, { message: 'when: is_leader', durationMs: 0 })),
    ['task.end', { play: 1, task: 4 }],
    ['task.start', { play: 1, task: 5, name: 'Optional probe', module: 'command', hosts: ['etcd-1'] }],
    stepEnd(
      1,
      5,
      'etcd-1',
      result('failed', { rc: 1, stdout: '', stderr: '' }, { actions: [{ index: 0, kind: 'exec', cmd: 'false', code: 1, durationMs: 5 }] }),
    ),
    ['task.end', { play: 1, task: 5 }],
    ['play.end', { play: 1 }],
    ['play.start', { play: 2, name: 'Restart etcd', hosts: ['etcd-1', 'etcd-2'] }],
    ['batch.start', { play: 2, batch: 1, hosts: ['etcd-1'] }],
    ['task.start', { play: 2, task: 1, name: 'Stop etcd', module: 'service', hosts: ['etcd-1'] }],
    stepEnd(2, 1, 'etcd-1', result('changed', { changed: true })),
    ['task.end', { play: 2, task: 1 }],
    ['task.start', { play: 2, task: 2, name: 'Start etcd', module: 'service', hosts: ['etcd-1'] }],
    stepEnd(
      2,
      2,
      'etcd-1',
      result(
        'changed',
        { changed: true },
        {
          actions: [
            { index: 0, kind: 'exec', cmd: `ETCDCTL_PASSWORD=${SECRET} systemctl start etcd`, code: 0, durationMs: 900, stdoutTail: `started with ${PEM}\n` },
          ],
        },
      ),
    ),
    ['task.end', { play: 2, task: 2 }],
    ['batch.start', { play: 2, batch: 2, hosts: ['etcd-2'] }],
    ['task.start', { play: 2, task: 1, name: 'Stop etcd', module: 'service', hosts: ['etcd-2'] }],
    ['step.start', { play: 2, task: 1, stepId: '2.1@etcd-2', host: 'etcd-2', target: 'etcd-2', attempt: 1 }],
    ['step.output', { stepId: '2.1@etcd-2', host: 'etcd-2', stream: 'stderr', text: `Failed to stop etcd.service: Access denied (token ${SHORT_SECRET})\n` }],
    stepEnd(
      2,
      1,
      'etcd-2',
      result(
        'failed',
        { rc: 1, stdout: '', stderr: `Failed to stop etcd.service: Access denied (token ${SHORT_SECRET})` },
        {
          actions: [
            {
              index: 0,
              kind: 'exec',
              cmd: 'systemctl stop etcd',
              code: 1,
              durationMs: 80,
              stderrTail: `Failed to stop etcd.service: Access denied (token ${SHORT_SECRET})\n`,
            },
          ],
        },
      ),
    ),
    ['host.failed', { host: 'etcd-2', stepId: '2.1@etcd-2', message: `rc=1: Failed to stop etcd.service: Access denied (token ${SHORT_SECRET})` }],
    ['task.end', { play: 2, task: 1 }],
    ['play.end', { play: 2, aborted: 'any_errors_fatal: etcd-2 failed' }],
    ['warning', { message: `leftover lock held with password ${SECRET}`, host: 'etcd-1' }],
  ];
  if (opts.withRunEnd !== false) ev.push(['run.end', { runId: 'r1', ok: false, interrupted: false, recap: RECAP, durationMs: 12_300, exitCode: 1 }]);
  return ev;
}

export function play(emit: Emit, calls: Call[]): void {
  for (const [type, data] of calls) (emit as (t: string, d: unknown) => void)(type, data);
}

/** A clock that advances 100 ms per call, from a fixed start. */
export function fakeClock(start = Date.parse('2025-01-02T12:00:00.000Z')): () => Date {
  let t = start;
  return () => new Date((t += 100));
}
