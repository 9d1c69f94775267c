// The quorum timeline of a plan (issue 14 item 7): every step that changes the membership or stops
// a member, with the voting members and how many of them run before and after it, the quorum and
// how many more failures the cluster would survive. Known from the inventory alone, like the rest
// of the plan: the cluster is taken to be healthy at the start, with the members the inventory
// lists minus those the plan adds plus those it removes (playbooks take the inventory's end state).
// A step that would leave fewer running voting members than the quorum is refused at compile time
// (exit 2 at the task), unless its play says `quorum_lost: true` (a restore: quorum is gone already).
//
// What counts, by module and arguments: etcd_member add (a learner does not vote) / promote /
// remove / update (the member is cut off until it restarts at its new URL), etcd_service stopped /
// started / restarted (and force_new_cluster: a one-member cluster), etcd_snapshot restore (a new
// cluster of the inventory's members, stopped until started). Commands in shell or service tasks
// are not read: playbooks stop etcd through etcd_service.
import { diag, type Diagnostic } from '../model/diagnostics.js';
import type { Inventory, JsonObject, PlannedPlay, QuorumMark, QuorumState } from '../model/types.js';
import { locate, type Source } from '../load/source.js';

type Kind = 'add' | 'promote' | 'remove' | 'update' | 'stop' | 'start' | 'restart' | 'force' | 'restore';

interface Effect {
  kind: Kind;
  member: string;
  learner?: boolean;
}

/** Effects noted while compiling: play index → task index → host → effect. */
export class QuorumNotes {
  private readonly byStep = new Map<string, Effect>();

  /** Called for every compiled (not statically skipped) step with its rendered arguments. */
  note(inv: Inventory, pi: number, ti: number, module: string, host: string, target: string, args: JsonObject): void {
    const e = effectOf(inv, module, target, args);
    if (e) this.byStep.set(`${pi}.${ti}@${host}`, e);
  }

  get(pi: number, ti: number, host: string): Effect | undefined {
    return this.byStep.get(`${pi}.${ti}@${host}`);
  }

  effects(): Effect[] {
    return [...this.byStep.values()];
  }
}

const known = (v: unknown): v is string => typeof v === 'string' && v !== '' && !v.includes('⟨');

function effectOf(inv: Inventory, module: string, target: string, args: JsonObject): Effect | undefined {
  const own = inv.hosts[target]?.etcd?.name;
  // A host outside group etcd (a machine being retired) is no member the cluster counts.
  const counted = own !== undefined && inv.facts.members.some((m) => m.name === own) ? own : undefined;
  if (module === 'etcd_member') {
    const name = args.name;
    if (!known(name)) return undefined;
    if (args.op === 'add') return { kind: 'add', member: name, learner: args.learner !== false && inv.facts.supportsLearner };
    if (args.op === 'promote') return { kind: 'promote', member: name };
    if (args.op === 'remove') return { kind: 'remove', member: name };
    if (args.op === 'update') return { kind: 'update', member: name };
    return undefined;
  }
  if (module === 'etcd_service' && counted) {
    if (args.state === 'stopped') return { kind: 'stop', member: counted };
    if (args.state === 'restarted') return { kind: 'restart', member: counted };
    if (args.state === 'started') return { kind: args.force_new_cluster === true ? 'force' : 'start', member: counted };
  }
  if (module === 'etcd_snapshot' && args.op === 'restore' && counted) return { kind: 'restore', member: counted };
  return undefined;
}

interface Cluster {
  voting: Set<string>;
  learners: Set<string>;
  down: Set<string>;
}

function state(c: Cluster): QuorumState {
  const voting = c.voting.size;
  const up = [...c.voting].filter((m) => !c.down.has(m)).length;
  const quorum = Math.floor(voting / 2) + 1;
  return { voting, up, quorum, tolerance: up - quorum, ...(c.learners.size ? { learners: c.learners.size } : {}) };
}

function apply(c: Cluster, e: Effect, inv: Inventory): string {
  const m = e.member;
  switch (e.kind) {
    case 'add':
      (e.learner ? c.learners : c.voting).add(m);
      c.down.add(m);
      return `${m} added${e.learner ? ' as a learner (no vote)' : ' (votes before it runs)'}`;
    case 'promote':
      c.learners.delete(m);
      c.voting.add(m);
      c.down.delete(m);
      return `${m} promoted to a voting member`;
    case 'remove':
      c.voting.delete(m);
      c.learners.delete(m);
      c.down.delete(m);
      return `${m} removed`;
    case 'update':
      // Its peers dial the new URL from now on: cut off until it restarts there.
      c.down.add(m);
      return `${m}'s peer URL changed (cut off until it restarts there)`;
    case 'stop':
      c.down.add(m);
      return `${m} stopped`;
    case 'restart':
      c.down.add(m);
      return `${m} restarted`;
    case 'start':
      c.down.delete(m);
      return `${m} started`;
    case 'force':
      c.voting = new Set([m]);
      c.learners.clear();
      c.down = new Set();
      return `${m} started alone (--force-new-cluster: a one-member cluster)`;
    case 'restore':
      // A new cluster of the inventory's members; the restored one is stopped until started.
      c.voting = new Set(inv.facts.members.map((x) => x.name));
      c.learners.clear();
      c.down = new Set([...c.down, m].filter((x) => c.voting.has(x)));
      return `${m} restored (a new cluster of ${c.voting.size})`;
  }
}

/**
 * Walk the plan as it runs (plays; batches; tasks; a task's hosts of a batch at once), put a mark
 * on every task whose steps change the membership or stop a member, and refuse steps that leave the
 * running voting members below quorum when it held before.
 */
export function quorumTimeline(plays: PlannedPlay[], notes: QuorumNotes, inv: Inventory, src: Source, lostOk: (pi: number) => boolean): Diagnostic[] {
  const out: Diagnostic[] = [];
  const adds = new Set(notes.effects().flatMap((e) => (e.kind === 'add' ? [e.member] : [])));
  const removes = new Set(notes.effects().flatMap((e) => (e.kind === 'remove' ? [e.member] : [])));
  const start = [...inv.facts.members.map((m) => m.name).filter((n) => !adds.has(n)), ...removes];
  const c: Cluster = { voting: new Set(start), learners: new Set(), down: new Set() };
  for (const play of plays) {
    const pi = play.index - 1;
    for (const batch of play.batches) {
      for (const task of play.tasks) {
        const steps = task.steps.filter((s) => !s.skip && batch.includes(s.host));
        // Stopping or starting a machine that is no member (any more) changes nothing the cluster counts.
        const counts = (e: Effect): boolean => !['stop', 'start', 'restart'].includes(e.kind) || c.voting.has(e.member) || c.learners.has(e.member);
        const effects = steps.flatMap((s) => {
          const e = notes.get(pi, task.index - 1, s.host);
          return e && counts(e) ? [{ e, conditional: (s.when ?? task.when).length > 0 }] : [];
        });
        if (effects.length === 0) continue;
        const before = state(c);
        const change = effects.map(({ e }) => apply(c, e, inv));
        const during = state(c);
        // A restart is back once its step ends.
        for (const { e } of effects) if (e.kind === 'restart') c.down.delete(e.member);
        const after = state(c);
        const restarted = effects.some(({ e }) => e.kind === 'restart');
        const mark: QuorumMark = {
          hosts: steps.filter((s) => effects.some((x) => x.e === notes.get(pi, task.index - 1, s.host))).map((s) => s.host),
          change: change.join(', '),
          before,
          ...(restarted ? { during } : {}),
          after,
          ...(effects.some((x) => x.conditional) ? { conditional: true } : {}),
        };
        task.quorum = [...(task.quorum ?? []), mark];
        const low = restarted ? during : after;
        if (before.up >= before.quorum && low.up < low.quorum && !lostOk(pi)) {
          const at = locate(src, [pi, 'tasks', task.index - 1]);
          out.push(
            diag(
              'quorum-lost',
              `this step leaves ${low.up} of ${low.voting} voting members running, below the quorum of ${low.quorum} ` +
                `(${mark.change}): the cluster stops serving`,
              at,
              {
                length: at.length,
                hint:
                  'change one member at a time (serial: 1, health checked in between); ' +
                  'a play for a cluster without quorum (a restore) says quorum_lost: true',
              },
            ),
          );
        }
      }
    }
  }
  return out;
}
