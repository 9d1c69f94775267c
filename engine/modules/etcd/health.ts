// etcd_health: endpoint health/status, wait until healthy, quorum preflight, prove members are down.
// Read-only: every op only asks etcd.
import type { Action, JsonObject } from '../../model/types.js';
import { bashScript, sh } from '../../shell/sh.js';
import { endpointNames, exec, num, opsModule, optStr, waitFor, type ExecExtra, type ModulePlan, type Op, type PlanCtx } from '../module.js';
import { NOSPACE_ONLY_ENTRY_BRE } from '../../inventory/facts.js';
import { ctl, endpointHealth, endpoints, endpointStatus, listeningOnly, memberList, ref, selfEndpoint } from './common.js';

// listeningOnly's output has the shape of `endpoint health` / `endpoint status`.
const healthJson = (): ExecExtra => ({ parse: 'json', probe: true, okCodes: [0, 1], bind: 'health' });
const statusJson = (): ExecExtra => ({ parse: 'json', probe: true, okCodes: [0, 1], bind: 'raw' });

const eps = (args: JsonObject, ctx: PlanCtx): string => endpoints(ctx, optStr(args, 'endpoints'));
const health = (ctx: PlanCtx, e: string): Action => endpointHealth(ctx, e);
const status = (ctx: PlanCtx, e: string): Action => endpointStatus(ctx, e);

function wait(args: JsonObject, ctx: PlanCtx): ModulePlan {
  const e = eps(args, ctx);
  const timeout = num(args, 'timeout', 120);
  // Healthy: every endpoint's entry says health true, or its only problem is NOSPACE alarms (etcd
  // 3.5 marks those unhealthy, 3.4 did not: facts.ts healthyDespiteAlarms). Not the exit code.
  const healthy = sh`out=$(${ctl(ctx, e, true)} endpoint health --write-out=json 2>/dev/null); [ -n "$out" ] && ! printf '%s\\n' "$out" | sed 's/},{/}\\n{/g' | grep -v '"health":true' | grep -qv ${NOSPACE_ONLY_ENTRY_BRE}`;
  const loop = sh`deadline=$(( $(date +%s) + ${timeout} )); until ${healthy}; do if [ "$(date +%s)" -ge "$deadline" ]; then ${ctl(ctx, e, true)} endpoint health >&2; echo ${`not healthy after ${timeout}s`} >&2; exit 1; fi; sleep 1; done`;
  const actions: Action[] = [waitFor(`all of ${e} healthy`, timeout, bashScript(loop, 'wait-healthy'))];
  const expect = optStr(args, 'expect_members');
  if (expect !== undefined) {
    actions.push(memberList(ctx, e));
    actions.push({ kind: 'derive', fn: 'require_members', args: [ref('list.json'), expect], bind: 'members' });
  }
  actions.push(
    status(ctx, e),
    { kind: 'derive', fn: 'endpoint_status', args: [ref('raw.json')], bind: 'status' },
    { kind: 'derive', fn: 'require_one_cluster', args: [ref('raw.json')], bind: 'cluster' },
  );
  return { actions, result: ref('status') };
}

const ops: Record<string, Op['plan']> = {
  check: (args, ctx) => ({
    actions: [health(ctx, eps(args, ctx)), { kind: 'derive', fn: 'require_healthy', args: [ref('health.json')], bind: 'healthy' }],
    result: ref('healthy'),
  }),
  // `runbook status`: the live member list joined with every member's status and health
  // (--cluster: members missing from the inventory show up too); unhealthy members are rows, not failures.
  report: (args, ctx) => {
    const e = eps(args, ctx);
    return {
      actions: [
        memberList(ctx, e),
        endpointStatus(ctx, e, { cluster: true }),
        endpointHealth(ctx, e, { cluster: true }),
        { kind: 'derive', fn: 'status_table', args: [ref('list.json'), ref('raw.json'), ref('health.json')], bind: 'table' },
      ],
      result: ref('table'),
    };
  },
  status: (args, ctx) => ({
    actions: [status(ctx, eps(args, ctx)), { kind: 'derive', fn: 'endpoint_status', args: [ref('raw.json')], bind: 'status' }],
    result: ref('status'),
  }),
  wait,
  // Quorum math on the live membership before a change: refuse when it would lose quorum.
  preflight: (args, ctx) => {
    const e = eps(args, ctx);
    return {
      actions: [
        memberList(ctx, e),
        endpointHealth(ctx, e, { cluster: true }),
        // shrink: a removal for good (remove-member), which also never shrinks a 2-member cluster
        args.shrink === true
          ? { kind: 'derive', fn: 'shrink_preflight', args: [ref('list.json'), ref('health.json'), optStr(args, 'remove') ?? ''], bind: 'verdict' }
          : { kind: 'derive', fn: 'quorum_preflight_live', args: [ref('list.json'), ref('health.json'), optStr(args, 'remove') ?? null], bind: 'verdict' },
      ],
      result: ref('verdict'),
    };
  },
  // restore-all only runs when quorum is really lost.
  lost: (args, ctx) => ({
    actions: [
      exec(listeningOnly(ctx, eps(args, ctx), sh`endpoint health --write-out=json`), healthJson()),
      { kind: 'derive', fn: 'require_no_quorum', args: [ref('health.json'), ctx.inventory.facts.size], bind: 'verdict' },
    ],
    result: ref('verdict'),
  }),
  // force-new-cluster is only safe when no other member runs: a member without quorum is
  // unhealthy but alive and still answers `endpoint status`, so status is the test.
  down: (args, ctx) => ({
    actions: [
      exec(listeningOnly(ctx, eps(args, ctx), sh`endpoint status --write-out=json`), statusJson()),
      { kind: 'derive', fn: 'require_down', args: [ref('raw.json')], bind: 'down' },
    ],
    result: ref('down'),
  }),
  data: (args, ctx) => {
    const self = selfEndpoint(ctx);
    const f = ctx.inventory.facts;
    return {
      actions: [
        exec(sh`${ctl(ctx, self, true)} get '' --prefix --keys-only --limit=1 --write-out=json`, { parse: 'json', probe: true, bind: 'count' }),
        status(ctx, self),
        {
          kind: 'derive',
          fn: 'require_data',
          args: [
            ref('count.json'),
            ref('raw.json'),
            args.manifest ?? null,
            num(args, 'bump_revision', f.supportsBumpRevision ? ctx.inventory.cluster.bumpRevision : 0),
          ],
          bind: 'data',
        },
      ],
      result: ref('data'),
    };
  },
};

const e = (args: JsonObject, ctx: PlanCtx): string => endpointNames(ctx, optStr(args, 'endpoints'));
const intents: Record<string, Op['intent']> = {
  check: (a, c) => `fail unless every member answers healthy: ${e(a, c)}`,
  report: (a, c) => `read the member list, status and health of the cluster through ${e(a, c)}`,
  status: (a, c) => `read the status of ${e(a, c)}`,
  wait: (a, c) =>
    `wait up to ${num(a, 'timeout', 120)}s until ${e(a, c)} are healthy in one cluster${optStr(a, 'expect_members') !== undefined ? `, members exactly ${optStr(a, 'expect_members')}` : ''}`,
  preflight: (a) =>
    a.shrink === true
      ? `refuse unless the cluster keeps quorum without ${optStr(a, 'remove') ?? '?'} (never shrinks a 2-member cluster)`
      : optStr(a, 'remove') !== undefined
        ? `refuse unless a quorum is healthy now and would still be without ${optStr(a, 'remove') ?? ''}`
        : 'refuse unless a quorum of the live members is healthy',
  lost: (a, c) => `refuse if a quorum of members still serves: ${e(a, c)}`,
  down: (a, c) => `refuse if any member still answers: ${e(a, c)}`,
  data: () => 'check this member serves the restored data (keys present, revision as expected)',
};

export const etcd_health = opsModule({
  name: 'etcd_health',
  schema: 'etcd_health',
  summary: 'endpoint health/status, wait until healthy, quorum preflight, prove members are down',
  ops: Object.fromEntries(Object.entries(ops).map(([k, plan]) => [k, { readOnly: true, plan, intent: intents[k] }])),
});
