// etcd_member: member list (hex IDs), add (learner first where supported), promote, remove/update by name.
import type { Action, JsonObject } from '../../model/types.js';
import { bashScript, raw, sh, type ShellText } from '../../shell/sh.js';
import { ArgError, bool, exec, opsModule, optStr, str, type ModulePlan, type Op, type PlanCtx } from '../module.js';
import { ctl, endpointHealth, endpoints, memberList, nothing, ref } from './common.js';

/**
 * A membership command (add, remove, update) with etcd's refusal read by type: the exit status and
 * output are kept (okCodes 0, 1), the health is read after a failure, and membership_result fails
 * the step, at once when etcd will refuse again (derive-members.ts), else as a failure to retry.
 */
function change(ctx: PlanCtx, eps: string, cmd: ShellText, when?: string): Action[] {
  const onFailure = `_.change is defined and _.change.rc != 0`;
  return [
    exec(cmd, { okCodes: [0, 1], bind: 'change', ...(when ? { when } : {}) }),
    { ...endpointHealth(ctx, eps, { cluster: true }), when: onFailure },
    { kind: 'derive', fn: 'membership_result', args: [ref('change'), `⟨!_.health.json⟩`], bind: 'outcome', when: onFailure },
  ];
}

/** What every op starts from: the live member list, and the member's ID looked up by exact name. */
function basics(args: JsonObject, ctx: PlanCtx): { eps: string; list: Action; name: string; byName: Action } {
  const eps = endpoints(ctx, optStr(args, 'endpoints'));
  const name = optStr(args, 'name') ?? '';
  return {
    eps,
    name,
    list: memberList(ctx, eps),
    byName: { kind: 'derive', fn: 'member_id', args: [ref('list.json'), name], bind: 'id' },
  };
}

function remove(args: JsonObject, ctx: PlanCtx): ModulePlan {
  const { eps, list, name, byName } = basics(args, ctx);
  const keep = optStr(args, 'keep_peer_url');
  const pick: Action[] = keep
    ? [
        endpointHealth(ctx, eps, { cluster: true }),
        { kind: 'derive', fn: 'member_to_replace', args: [ref('list.json'), ref('health.json'), name, keep], bind: 'id' },
      ]
    : [byName];
  return { actions: [list, ...pick, ...change(ctx, eps, sh`${ctl(ctx, eps)} member remove ⟨_.id⟩`)], result: ref('id') };
}

function add(args: JsonObject, ctx: PlanCtx): ModulePlan {
  const { eps, list, name } = basics(args, ctx);
  const peer = str(args, 'peer_url');
  const learner = bool(args, 'learner', true) && ctx.inventory.facts.supportsLearner;
  return {
    actions: [
      list,
      // Idempotent: a retried add after a reported failure that in fact succeeded does not add twice.
      { kind: 'derive', fn: 'has_peer', args: [ref('list.json'), peer], bind: 'present' },
      ...change(ctx, eps, sh`${ctl(ctx, eps)} member add ${name} --peer-urls=${peer}${learner ? raw(' --learner') : nothing}`, 'not _.present'),
      { ...list, bind: 'after' },
      { kind: 'derive', fn: 'initial_cluster_after_add', args: [ref('after.json'), name, peer], bind: 'initial_cluster' },
      { kind: 'derive', fn: 'member_id_by_peer', args: [ref('after.json'), peer], bind: 'id' },
    ],
    result: { initial_cluster: ref('initial_cluster'), id: ref('id'), learner },
  };
}

/** `member <verb> ⟨_.id⟩ …` on the member looked up by exact name (a membership change: its refusal read by change()). */
function onMemberByName(verb: (args: JsonObject) => ShellText, isChange: boolean): Op['plan'] {
  return (args, ctx) => {
    const { eps, list, byName } = basics(args, ctx);
    const cmd = sh`${ctl(ctx, eps)} member ${verb(args)}`;
    return { actions: [list, byName, ...(isChange ? change(ctx, eps, cmd) : [exec(cmd)])], result: ref('id') };
  };
}

/**
 * update-member's preflight, on the moving member's host: the live list and health judged by
 * update_preflight (one voting member of that name, the new peer URL used by no other member, the
 * others keep quorum while it restarts); unless it has moved already, nothing on this host may
 * accept connections at the new peer address yet.
 */
function checkUpdate(args: JsonObject, ctx: PlanCtx): ModulePlan {
  const { eps, list, name } = basics(args, ctx);
  const peer = str(args, 'peer_url');
  const hp = /^https?:\/\/\[?([^\]]+?)\]?:(\d+)$/.exec(peer);
  if (!hp) throw new ArgError('peer_url', `${peer} has no host and port`, 'a peer URL like https://10.0.0.1:2380');
  const inUse = `${peer} already accepts connections on ${ctx.host.name}: another process uses the new peer address`;
  const free = bashScript(sh`if (exec 3<>/dev/tcp/${hp[1] ?? ''}/${Number(hp[2])}) 2>/dev/null; then echo ${inUse} >&2; exit 1; fi`, 'port-free');
  return {
    actions: [
      list,
      endpointHealth(ctx, eps, { cluster: true }),
      { kind: 'derive', fn: 'update_preflight', args: [ref('list.json'), ref('health.json'), name, peer], bind: 'verdict' },
      exec(free, { probe: true, when: 'not _.verdict.moved', note: 'the new peer address is free' }),
    ],
    result: ref('verdict'),
  };
}

export const etcd_member = opsModule({
  name: 'etcd_member',
  schema: 'etcd_member',
  summary: 'member list (hex IDs), add (learner first where supported), promote, remove/update by name',
  ops: {
    list: {
      readOnly: true,
      plan: (args, ctx) => ({
        actions: [basics(args, ctx).list, { kind: 'derive', fn: 'members', args: [ref('list.json')], bind: 'members' }],
        result: ref('members'),
      }),
      intent: () => 'read the live member list',
    },
    add: {
      readOnly: false,
      plan: add,
      intent: (a, c) =>
        `add member ${str(a, 'name')} at ${str(a, 'peer_url')}${bool(a, 'learner', true) && c.inventory.facts.supportsLearner ? ' as a learner' : ''} unless a member has that peer URL`,
    },
    // add-member's preflight: may this name join at this peer URL? (derive add_preflight)
    check_add: {
      readOnly: true,
      plan: (args, ctx) => {
        const { list, name } = basics(args, ctx);
        const verdict: Action = { kind: 'derive', fn: 'add_preflight', args: [ref('list.json'), name, str(args, 'peer_url')], bind: 'verdict' };
        return { actions: [list, verdict], result: ref('verdict') };
      },
      intent: (a) => `refuse if another member uses ${str(a, 'peer_url')}; a learner ${optStr(a, 'name') ?? ''} left by an earlier run is continued`,
    },
    remove: {
      readOnly: false,
      plan: remove,
      intent: (a) =>
        optStr(a, 'keep_peer_url') !== undefined
          ? `remove member ${optStr(a, 'name') ?? ''} (by exact name), never the healthy replacement of that name at ${optStr(a, 'keep_peer_url') ?? ''}`
          : `remove member ${optStr(a, 'name') ?? ''} (its ID found by exact name)`,
    },
    promote: {
      readOnly: false,
      plan: onMemberByName(() => raw('promote ⟨_.id⟩'), false),
      intent: (a) => `promote learner ${optStr(a, 'name') ?? ''} to a voting member`,
    },
    update: {
      readOnly: false,
      plan: onMemberByName((args) => sh`update ⟨_.id⟩ --peer-urls=${str(args, 'peer_url')}`, true),
      intent: (a) => `set the peer URL of member ${optStr(a, 'name') ?? ''} to ${str(a, 'peer_url')}`,
    },
    // update-member's preflight: may this member move to this peer URL? (derive update_preflight)
    check_update: {
      readOnly: true,
      plan: checkUpdate,
      intent: (a) => `refuse unless member ${optStr(a, 'name') ?? ''} can move to ${str(a, 'peer_url')} with the others keeping quorum`,
    },
  },
});
