// The randomized fault campaign's choices (pure, no I/O): from a seed, a deterministic sequence of
// runs, each a playbook, a moment and a fault. The next run is chosen from the membership the
// previous one left (a grown cluster can shrink, a spare can join or replace a member), so one seed
// gives one sequence as long as the runs end the same way. test/lab/campaign.ts carries them out.
// A new playbook (the rolling upgrade, certificate rotation): add it to CAMPAIGN_PLAYBOOKS, say in
// playable() when it can run and in nextSpec() its -e values and the membership it leaves. (Adding
// one changes what every seed draws: keep the seeds file's runs passing.)

export const CAMPAIGN_PLAYBOOKS = ['compact-defrag', 'backup', 'add-member', 'remove-member', 'replace-member', 'restore-all'] as const;
export type CampaignPlaybook = (typeof CAMPAIGN_PLAYBOOKS)[number];

/**
 * kill-etcd: SIGKILL a member's etcd (the unit's Restart=on-failure brings it back).
 * cut-ssh: SIGKILL the sshd process serving runbook's connection to a host (the TCP session drops).
 * kill-runbook: SIGKILL the runbook process itself (no journal end, locks left behind).
 * disk-full: the host's backup dir on a full tmpfs (snapshots and restore files land there).
 * stop-sshd: the host's sshd and its sessions frozen (SIGSTOP: a hung SSH server), thawed once the run ends.
 */
export const CAMPAIGN_FAULTS = ['kill-etcd', 'cut-ssh', 'kill-runbook', 'disk-full', 'stop-sshd'] as const;
export type CampaignFault = (typeof CAMPAIGN_FAULTS)[number];

/**
 * When the fault strikes: as a step starts (the step's place in the plan as a fraction of its
 * steps, counted over the run's step.start events: see stepOf), or after a delay from the start.
 */
export type Moment = { stepFraction: number } | { delayMs: number };

/** The 1-based step a moment names in a plan of `steps` steps. */
export function stepOf(m: { stepFraction: number }, steps: number): number {
  return 1 + Math.min(steps - 1, Math.floor(m.stepFraction * steps));
}

export interface RunSpec {
  /** 1-based index in the campaign. */
  n: number;
  playbook: CampaignPlaybook;
  /** -e values, as key=value. */
  extra: string[];
  /** Members before and after the playbook (when it succeeds). */
  before: string[];
  after: string[];
  moment: Moment;
  fault: CampaignFault;
  /** The host the fault hits (kill-runbook: none). */
  target?: string;
}

function pick<T>(rand: () => number, xs: readonly T[]): T {
  const x = xs[Math.floor(rand() * xs.length)];
  if (x === undefined) throw new Error('campaign: nothing to pick from');
  return x;
}

/** Which playbooks make sense from this membership (3 or 4 members of `hosts`). */
export function playable(members: string[], hosts: string[]): CampaignPlaybook[] {
  const spares = hosts.filter((h) => !members.includes(h));
  return CAMPAIGN_PLAYBOOKS.filter((p) => {
    if (p === 'add-member' || p === 'replace-member') return spares.length > 0 && members.length === 3;
    if (p === 'remove-member') return members.length > 3;
    return true;
  });
}

/** The next run from the membership as it is now; a quarter of the moments are a delay (0 to 3 s), the others a step. */
export function nextSpec(rand: () => number, n: number, members: string[], hosts: string[]): RunSpec {
  const playbook = pick(rand, playable(members, hosts));
  const spares = hosts.filter((h) => !members.includes(h));
  let extra: string[] = [];
  let after = members;
  if (playbook === 'add-member') {
    const add = pick(rand, spares);
    extra = [`new=${add}`];
    after = [...members, add].sort();
  } else if (playbook === 'remove-member') {
    const rm = pick(rand, members);
    extra = [`name=${rm}`, `old_host=${rm}`];
    after = members.filter((m) => m !== rm);
  } else if (playbook === 'replace-member') {
    const old = pick(rand, members);
    const add = pick(rand, spares);
    extra = [`old=${old}`, `new=${add}`, `old_host=${old}`];
    after = [...members.filter((m) => m !== old), add].sort();
  } else if (playbook === 'restore-all') {
    extra = ['allow_healthy=true'];
  }
  const moment: Moment = rand() < 0.25 ? { delayMs: Math.floor(rand() * 3000) } : { stepFraction: rand() };
  const fault = pick(rand, CAMPAIGN_FAULTS);
  // etcd is killed where it runs (a member before or after); ssh faults hit any host the run uses.
  const involved = [...new Set([...members, ...after])].sort();
  const target = fault === 'kill-runbook' ? undefined : pick(rand, involved);
  return { n, playbook, extra, before: members, after, moment, fault, ...(target !== undefined ? { target } : {}) };
}

/** One line for a run, e.g. `#3 replace-member old=etcd-2 new=etcd-4 old_host=etcd-2; cut-ssh on etcd-4 at step 7 of 40`. */
export function describeSpec(s: RunSpec, steps?: number): string {
  const at =
    'stepFraction' in s.moment
      ? steps
        ? `at step ${stepOf(s.moment, steps)} of ${steps}`
        : `at ${s.moment.stepFraction.toFixed(2)} of the steps`
      : `after ${s.moment.delayMs} ms`;
  return `#${s.n} ${s.playbook}${s.extra.length ? ` ${s.extra.join(' ')}` : ''}; ${s.fault}${s.target ? ` on ${s.target}` : ''} ${at}`;
}
