// etcd_member: member list (hex IDs), add (learner first where supported), promote, remove/update by name.
import type { Action, JsonObject } from '../../model/types.js';
import { raw, sh, type ShellText } from '../../shell/sh.js';
import { bool, exec, opsModule, optStr, str, type ModulePlan, type Op, type PlanCtx } from '../module.js';
import { ctl, endpointHealth, endpoints, memberList, nothing, ref } from './common.js';

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
  return { actions: [list, ...pick, exec(sh`${ctl(ctx, eps)} member remove ⟨_.id⟩`)], result: ref('id') };
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
      exec(sh`${ctl(ctx, eps)} member add ${name} --peer-urls=${peer}${learner ? raw(' --learner') : nothing}`, { when: 'not _.present' }),
      { ...list, bind: 'after' },
      { kind: 'derive', fn: 'initial_cluster_after_add', args: [ref('after.json'), name, peer], bind: 'initial_cluster' },
      { kind: 'derive', fn: 'member_id_by_peer', args: [ref('after.json'), peer], bind: 'id' },
    ],
    result: { initial_cluster: ref('initial_cluster'), id: ref('id'), learner },
  };
}

/** `member <verb> ⟨_.id⟩ …` on the member looked up by exact name. */
function onMemberByName(verb: (args: JsonObject) => ShellText): Op['plan'] {
  return (args, ctx) => {
    const { eps, list, byName } = basics(args, ctx);
    return { actions: [list, byName, exec(sh`${ctl(ctx, eps)} member ${verb(args)}`)], result: ref('id') };
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
      plan: onMemberByName(() => raw('promote ⟨_.id⟩')),
      intent: (a) => `promote learner ${optStr(a, 'name') ?? ''} to a voting member`,
    },
    update: {
      readOnly: false,
      plan: onMemberByName((args) => sh`update ⟨_.id⟩ --peer-urls=${str(args, 'peer_url')}`),
      intent: (a) => `set the peer URL of member ${optStr(a, 'name') ?? ''} to ${str(a, 'peer_url')}`,
    },
  },
});
