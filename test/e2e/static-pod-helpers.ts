// Helpers of the static-pod (kubeadm) e2e tests: what the kubelet, crictl and kube-apiserver
// stand-ins (test/lab/kubelet-standin.py, crictl-standin.py, apiserver-standin.py) report on a
// lab host, read from inside the host as an operator would with crictl.
import assert from 'node:assert/strict';
import type { Lab } from '../lab/lab.js';
import { onHost, type CliRun, journal } from './playbook-helpers.js';
import { waitFor } from '../support/wait.js';

/** IDs of the host's containers named exactly `name`, newest first (`-a`: exited ones too). */
export async function containers(lab: Lab, host: string, name: string, all = false): Promise<string[]> {
  const out = await onHost(lab, host, `crictl ps -q ${all ? '-a ' : ''}--name '^${name}$'`);
  return out.split('\n').filter(Boolean);
}

/** The PID of the running `name` container (crictl inspect), or 0. */
export async function containerPid(lab: Lab, host: string, name: string): Promise<number> {
  const [id] = await containers(lab, host, name);
  if (!id) return 0;
  return (JSON.parse(await onHost(lab, host, `crictl inspect ${id}`)) as { info: { pid: number } }).info.pid;
}

export interface ApiserverWrite {
  host: string;
  seq: number;
  revision: number;
  /** When etcd acknowledged the write (ms since the epoch, the host's clock: the machine's). */
  at: number;
}

/** Every write the kube-apiserver stand-in on `host` saw acknowledged, from all its containers' logs. */
export async function apiserverWrites(lab: Lab, host: string): Promise<ApiserverWrite[]> {
  const ids = await containers(lab, host, 'kube-apiserver', true);
  const out: ApiserverWrite[] = [];
  for (const id of ids) {
    const log = await onHost(lab, host, `crictl logs ${id}`);
    for (const m of log.matchAll(/^write seq=(\d+) revision=(\d+) at=(\d+) /gm)) {
      out.push({ host, seq: Number(m[1]), revision: Number(m[2]), at: Number(m[3]) });
    }
  }
  return out.sort((a, b) => a.at - b.at);
}

/** When a host's steps of play `play` ended (last step.end) and began (first step.start), from the run's journal. */
export function playTimes(lab: Lab, run: CliRun, play: number, host: string): { start: number; end: number } {
  const ev = journal(lab, run);
  const mine = ev.filter((e) => e.play === play && e.host === host);
  const starts = mine.filter((e) => e.type === 'step.start').map((e) => Date.parse(e.at ?? ''));
  const ends = mine.filter((e) => e.type === 'step.end').map((e) => Date.parse(e.at ?? ''));
  assert.ok(starts.length > 0 && ends.length > 0, `no steps of play ${play} on ${host} in the journal`);
  return { start: Math.min(...starts), end: Math.max(...ends) };
}

/** When a container's process exited (crictl inspect; ms since the epoch), or 0 while it runs. */
export async function finishedAt(lab: Lab, host: string, id: string): Promise<number> {
  const s = (JSON.parse(await onHost(lab, host, `crictl inspect ${id}`)) as { status: { state: string; finishedAt: string } }).status;
  return s.state === 'CONTAINER_EXITED' ? Math.floor(Number(s.finishedAt) / 1e6) : 0;
}

/** When task PLAY.TASK began on a host (its step.start in the run's journal). */
export function stepStart(lab: Lab, run: CliRun, play: number, task: number, host: string): number {
  const ev = journal(lab, run);
  const e = ev.find((x) => x.type === 'step.start' && x.play === play && x.task === task && x.host === host);
  assert.ok(e?.at, `no start of task ${play}.${task} on ${host} in the journal`);
  return Date.parse(e.at);
}

/** Wait (observable state, bounded) until `check` holds. */
export async function until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  await waitFor(what, check, timeoutMs, 250);
}
