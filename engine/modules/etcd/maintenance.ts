// etcd_maintenance: compact at the current revision, defrag one member, alarm list/disarm, prove a write.
import type { Action, JsonObject } from '../../model/types.js';
import { sh } from '../../shell/sh.js';
import { exec, num, opsModule, RUN_ID, type ModulePlan, type PlanCtx } from '../module.js';
import { ctl, endpointStatus, ref, selfEndpoint } from './common.js';

const statusOf = (ctx: PlanCtx, eps: string, bind: string): Action => endpointStatus(ctx, eps, { bind, strict: true });
const timeout = (args: JsonObject): number => num(args, 'timeout', 120);

function defragAll(args: JsonObject, ctx: PlanCtx): ModulePlan {
  // Followers first, the leader last, health checked between members (one at a time).
  const f = ctx.inventory.facts;
  const all = f.endpoints;
  const actions: Action[] = [statusOf(ctx, all, 'before'), { kind: 'derive', fn: 'defrag_order', args: [ref('before.json')], bind: 'order' }];
  for (let i = 0; i < f.size; i++) {
    actions.push(
      exec(sh`${ctl(ctx, `⟨_.order.${i}⟩`)} --command-timeout=${timeout(args)}s defrag`, {
        note: i === f.size - 1 ? 'the leader goes last' : `member ${i + 1} of ${f.size} in follower-first order`,
      }),
    );
    // Parsed, not the exit code: etcd 3.5 fails `endpoint health` on a NOSPACE alarm (facts.ts healthyDespiteAlarms).
    actions.push(
      exec(sh`${ctl(ctx, all, true)} endpoint health --write-out=json`, {
        parse: 'json',
        probe: true,
        okCodes: [0, 1],
        bind: 'between',
        note: 'every member healthy before the next',
      }),
      { kind: 'derive', fn: 'require_healthy', args: [ref('between.json')], bind: 'between_ok' },
    );
  }
  actions.push(statusOf(ctx, all, 'after'), { kind: 'derive', fn: 'size_report', args: [ref('before.json'), ref('after.json')], bind: 'report' });
  return { actions, result: { order: ref('order'), report: ref('report'), before: ref('before.json'), after: ref('after.json') } };
}

export const etcd_maintenance = opsModule({
  name: 'etcd_maintenance',
  schema: 'etcd_maintenance',
  summary: 'compact at the current revision, defrag one member, alarm list/disarm, prove a write',
  ops: {
    compact: {
      readOnly: false,
      plan: (_args, ctx) => {
        const self = selfEndpoint(ctx);
        // endpoint_status parses the revision to an integer before it reaches the command.
        // Nothing written since the last compaction: that revision is already compacted, which is the goal.
        const cmd = sh`out=$(${ctl(ctx, self)} compact ⟨_.status.0.revision⟩ --physical 2>&1); rc=$?; printf '%s\\n' "$out"; if [ $rc -ne 0 ]; then case "$out" in *'required revision has been compacted'*) echo 'already compacted at this revision';; *) exit $rc;; esac; fi`;
        return {
          actions: [statusOf(ctx, self, 'raw'), { kind: 'derive', fn: 'endpoint_status', args: [ref('raw.json')], bind: 'status' }, exec(cmd)],
          result: ref('status.0.revision'),
        };
      },
      intent: (_a, c) => `compact the key history up to the current revision, read from ${c.host.etcd?.name ?? c.host.name}`,
    },
    defrag: {
      readOnly: false,
      plan: (args, ctx) => {
        const self = selfEndpoint(ctx);
        return {
          actions: [
            exec(sh`${ctl(ctx, self)} --command-timeout=${timeout(args)}s defrag`),
            statusOf(ctx, self, 'raw'),
            { kind: 'derive', fn: 'endpoint_status', args: [ref('raw.json')], bind: 'status' },
          ],
          result: ref('status.0'),
        };
      },
      intent: () => 'defragment this member',
    },
    defrag_all: {
      readOnly: false,
      plan: defragAll,
      intent: (_a, c) => `defragment ${c.inventory.facts.size} members, followers first and the leader last, health checked between`,
    },
    alarm_list: {
      readOnly: true,
      plan: (_args, ctx) => ({
        actions: [
          exec(sh`${ctl(ctx, ctx.inventory.facts.endpoints, true)} alarm list --write-out=json`, { parse: 'json', probe: true, bind: 'raw' }),
          { kind: 'derive', fn: 'alarms', args: [ref('raw.json')], bind: 'alarms' },
          { kind: 'derive', fn: 'has_alarm', args: [ref('alarms'), 'NOSPACE'], bind: 'nospace' },
        ],
        result: { alarms: ref('alarms'), nospace: ref('nospace') },
      }),
      intent: () => 'list the active alarms (NOSPACE among them?)',
    },
    alarm_disarm: {
      readOnly: false,
      plan: (_args, ctx) => ({ actions: [exec(sh`${ctl(ctx, ctx.inventory.facts.endpoints)} alarm disarm`)] }),
      intent: () => 'disarm all alarms',
    },
    write_probe: {
      readOnly: false,
      plan: (_args, ctx) => {
        const all = ctx.inventory.facts.endpoints;
        const key = `/runbook/probe/${RUN_ID}`;
        return {
          actions: [
            exec(sh`${ctl(ctx, all)} put ${key} ${`written by runbook run ${RUN_ID}`}`),
            exec(sh`${ctl(ctx, all, true)} get ${key} --print-value-only | grep -q . && ${ctl(ctx, all)} del ${key}`, {
              note: 'read it back, then delete the probe key',
            }),
          ],
        };
      },
      intent: () => 'prove the cluster takes a write: put a probe key, read it back, delete it',
    },
  },
});
