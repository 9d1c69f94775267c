// The production shapes the playbook e2e tests run on (issue 11's matrix). A shape is what a lab
// is brought up as: etcd version, http or TLS, deployment mode. Test titles start with the
// shape's title, e.g. `[3.5 tls systemd] restore-all …`.
//
// Which shapes run by default is chosen here, once, for CI's 30-minute budget on 2 cores:
// every playbook on (a), the production default; restore-all, replace-member, force-new-cluster
// and compact-defrag on (b), kubeadm's static pods (test/e2e/playbook-static-pod.test.ts); restore-all
// on (c), today's 3.4 + http.
// RUNBOOK_MATRIX=full runs every playbook on every shape.
import type { EtcdMinor, LabUpOptions } from './lab.js';
import type { Deployment } from './static-pod.js';

export interface Shape {
  /** Short id, used in lab directory names. */
  id: string;
  /** Prefix of every test title on this shape. */
  title: string;
  etcdVersion: EtcdMinor;
  tls: boolean;
  deployment: Deployment;
  /** The shipped example inventory this shape stands for ("what ships is what ran"), repo-relative. */
  shipped?: string;
}

/** (a) etcd 3.5 + TLS + systemd: the production default (inventories/prod-3-https.yml). */
export const SHAPE_A: Shape = {
  id: 'a',
  title: '[3.5 tls systemd]',
  etcdVersion: '3.5',
  tls: true,
  deployment: 'systemd',
  shipped: 'inventories/prod-3-https.yml',
};
/** (b) etcd 3.5 + TLS + kubeadm static pods, run by the lab's kubelet stand-in (inventories/kubeadm-static-pod.yml). */
export const SHAPE_B: Shape = {
  id: 'b',
  title: '[3.5 tls static-pod]',
  etcdVersion: '3.5',
  tls: true,
  deployment: 'static-pod',
  shipped: 'inventories/kubeadm-static-pod.yml',
};
/** (c) etcd 3.4 + http + systemd: the machine's own etcd, the lab as it was first built. */
export const SHAPE_C: Shape = { id: 'c', title: '[3.4 http systemd]', etcdVersion: '3.4', tls: false, deployment: 'systemd' };

/**
 * (d) etcd 3.4 + TLS + systemd: the production shape one minor back, where upgrade.yml starts
 * (test/e2e/playbook-upgrade.test.ts upgrades it to 3.5 with the cached 3.5 build's binaries).
 */
export const SHAPE_D: Shape = { id: 'd', title: '[3.4 tls systemd]', etcdVersion: '3.4', tls: true, deployment: 'systemd' };

/** The systemd shapes (the static-pod shape has its own suite: its hosts have no etcd unit or etcd.conf). */
export const ALL_SHAPES: Shape[] = [SHAPE_A, SHAPE_C];
/** (b) and, with RUNBOOK_MATRIX=full, the same static pods on the machine's 3.4 over http. */
export const SHAPE_B34: Shape = { id: 'b34', title: '[3.4 http static-pod]', etcdVersion: '3.4', tls: false, deployment: 'static-pod' };

/** The playbook e2e suites (test/e2e/playbook-*.test.ts). */
export type Suite = 'restore-all' | 'restore-no-backup' | 'force-new-cluster' | 'replace-member' | 'compact-defrag' | 'static-pod' | 'static-pod-more';

/** Shapes a suite runs on by default (RUNBOOK_MATRIX=full: all of them). */
const DEFAULT_MATRIX: Record<Suite, Shape[]> = {
  'restore-all': [SHAPE_A, SHAPE_C],
  'restore-no-backup': [SHAPE_A],
  'force-new-cluster': [SHAPE_A],
  'replace-member': [SHAPE_A],
  'compact-defrag': [SHAPE_A],
  'static-pod': [SHAPE_B],
  // restore-all-no-backup on static pods: RUNBOOK_MATRIX=full only (CI budget)
  'static-pod-more': [],
};

export function shapesFor(suite: Suite): Shape[] {
  const m = process.env.RUNBOOK_MATRIX ?? '';
  if (m === 'full') return suite.startsWith('static-pod') ? [SHAPE_B, SHAPE_B34] : ALL_SHAPES;
  if (m !== '' && m !== 'default') throw new Error(`RUNBOOK_MATRIX must be "full" or "default", got "${m}"`);
  return DEFAULT_MATRIX[suite];
}

/** labUp options of a shape. */
export function shapeLab(shape: Shape): Pick<LabUpOptions, 'etcdVersion' | 'tls' | 'deployment'> {
  return { etcdVersion: shape.etcdVersion, tls: shape.tls, deployment: shape.deployment };
}
