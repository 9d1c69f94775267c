// The data that flows through runbook: load → validate → compile → execute → report.
// Everything here is plain data (JSON-serialisable) so a Plan can be saved, diffed and replayed.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** A position in a source file, 1-based like editors show it. */
export interface SourceRef {
  file: string;
  line: number;
  col: number;
}

// ───────────────────────────── inventory ─────────────────────────────

export type HostKeyChecking = 'strict' | 'accept-new' | 'off';
export type Deployment = 'systemd' | 'static-pod';

export interface SshSettings {
  user: string;
  port: number;
  identityFile?: string;
  knownHosts: string;
  /** Name of another inventory host (or user@host:port) to tunnel through, ProxyJump style. */
  jump?: string;
  hostKeyChecking: HostKeyChecking;
  connectTimeoutSec: number;
  keepaliveSec: number;
  /** false: one SSH session per command instead of the session shell (default on). */
  sessionShell?: boolean;
  /** Settings the inventory left to runbook's defaults: an OpenSSH config (~/.ssh/config, -F) may set these (transports/ssh/ssh-config.ts). */
  defaulted?: SshDefaultable[];
  /** More identity files to try after identityFile (from the ssh config's IdentityFile lines). */
  identityFiles?: string[];
  /** IdentitiesOnly: only the identity files, not ssh-agent's keys. */
  identitiesOnly?: boolean;
  /** More known_hosts files read (never written): the ssh config's other UserKnownHostsFile entries, /etc/ssh/ssh_known_hosts. */
  knownHostsExtra?: string[];
}

export type SshDefaultable = 'user' | 'port' | 'knownHosts' | 'hostKeyChecking' | 'connectTimeoutSec' | 'jump';

export interface EtcdMember {
  name: string;
  peerUrl: string;
  clientUrl: string;
  dataDir: string;
}

export interface Host {
  name: string;
  address: string;
  ssh: SshSettings;
  /** Present for members of the `etcd` group. */
  etcd?: EtcdMember;
  groups: string[];
  /** This host's TLS paths (the cluster's with placeholders filled and the host's own tls: over them); read through inventory/tls.ts hostTls(). */
  tls?: TlsSettings;
  /** Resolved variables for this host (inventory part of the precedence chain). */
  vars: JsonObject;
  /** Where each variable in `vars` came from, e.g. "inventory vars", "group etcd", "host etcd-1". */
  varSources: Record<string, string>;
  src: SourceRef;
}

export interface TlsSettings {
  ca: string;
  cert: string;
  key: string;
  /** Server-side (etcd.conf) certificates; default to the client ones when absent. */
  serverCert?: string;
  serverKey?: string;
  peerCa?: string;
  peerCert?: string;
  peerKey?: string;
}

export interface ClusterSettings {
  name: string;
  etcdVersion: string;
  deployment: Deployment;
  scheme: 'http' | 'https';
  token: string;
  dataDir: string;
  backupDir: string;
  /** Controller-side directory where fetched snapshots land. */
  controllerBackupDir: string;
  backupRetention: number;
  configFile: string;
  manifestFile: string;
  clientPort: number;
  peerPort: number;
  etcdUser: string;
  tls?: TlsSettings;
  /** Services stopped before a restore and started after, per group, e.g. kube_apiserver: [kube-apiserver]. */
  dependents: { group: string; services: string[] }[];
  /** Restores get --bump-revision/--mark-compacted when the tool has them (Kubernetes clusters). */
  bumpRevision: number;
  /** Retention of snapshots on the member and the controller (count defaults to backupRetention). */
  backupKeep: KeepRules;
  /** Off-host copies of every backup (inventory `cluster.backup_remote`). */
  backupRemote?: RemoteBackupSettings;
  /** Controller directory of the Prometheus textfile-collector file `runbook_backup.<cluster>.prom`. */
  backupMetricsDir: string;
}

/** Keep a snapshot while any rule wants it: among the newest `count`, or younger than `maxAgeSec`. */
export interface KeepRules {
  count?: number;
  maxAgeSec?: number;
}

/** An S3-compatible bucket. Credentials are the inventory secrets s3_access_key_id / s3_secret_access_key (s3_session_token). */
export interface S3Settings {
  /** https://s3.example.com (none: AWS's own endpoint for the region). */
  endpoint?: string;
  bucket: string;
  /** Key prefix, e.g. "etcd/prod/" (empty or ending in "/"). */
  prefix: string;
  region: string;
  /** Path-style URLs (most self-hosted S3 servers need them). */
  pathStyle: boolean;
}

export interface RemoteBackupSettings {
  s3: S3Settings;
  keep: KeepRules;
}

export interface ClusterFacts {
  members: EtcdMember[];
  initialCluster: string;
  endpoints: string;
  size: number;
  quorum: number;
  faultTolerance: number;
  /** etcdctl command prefix with endpoints-independent TLS flags, e.g. "etcdctl --cacert=... ". */
  etcdctl: string;
  /** Tool used for `snapshot restore|status`: etcdctl up to 3.4, etcdutl from 3.5. */
  snapshotTool: 'etcdctl' | 'etcdutl';
  tlsFlags: string;
  supportsLearner: boolean;
  supportsBumpRevision: boolean;
  /** ETCDCTL_API=3 is only needed for etcdctl <= 3.3. */
  needsApiEnv: boolean;
}

/** An inventory secret: an environment variable or a file (absolute path), read only when applying. */
export interface SecretSource {
  env?: string;
  file?: string;
}

export interface Inventory {
  file: string;
  sha256: string;
  cluster: ClusterSettings;
  /** Host names in canonical order (the `all` group). */
  hostOrder: string[];
  hosts: Record<string, Host>;
  /** Group name → host names, in the order the inventory lists them. */
  groups: Record<string, string[]>;
  vars: JsonObject;
  /** Names of variables whose values must never be printed. */
  secretVars: string[];
  /** Where each secret's value is read from at apply time (never at plan time); files are absolute. */
  secretSources: Record<string, SecretSource>;
  facts: ClusterFacts;
}

// ───────────────────────────── playbook ─────────────────────────────

/** Task keywords shared by a playbook task and its planned form. */
export interface TaskControl {
  name: string;
  module: string;
  when: string[];
  register?: string;
  runOnce: boolean;
  delegateTo?: string;
  retries: number;
  delaySec: number;
  until: string[];
  ignoreErrors: boolean;
  /** An unreachable host leaves the run without failing it (a machine being retired may be dead). */
  ignoreUnreachable?: boolean;
  changedWhen?: string[];
  failedWhen?: string[];
  tags: string[];
  become: boolean;
  src: SourceRef;
}

export interface Task extends TaskControl {
  args: Json;
  timeoutSec?: number;
  /** Read-only tasks also run in --check mode. */
  checkMode?: boolean;
  /** Source positions of the args, keyed by JSON pointer relative to the args. */
  argSrc: Record<string, SourceRef>;
}

export interface Play {
  name: string;
  hosts: string;
  vars: JsonObject;
  serial: (number | string)[];
  anyErrorsFatal: boolean;
  maxFailPercentage?: number;
  destructive: boolean;
  /** Extra vars the play needs (-e NAME=…): missing or empty ones refuse the plan (exit 2). */
  varsRequired?: string[];
  /** A play for a cluster without quorum (a restore): its quorum timeline is shown, not enforced. */
  quorumLost?: boolean;
  /** Runs even when an earlier play failed or stopped the run (not after an interrupt): e.g. recording a backup's outcome. */
  always?: boolean;
  tasks: Task[];
  src: SourceRef;
}

export interface Playbook {
  file: string;
  sha256: string;
  /** Shipped playbooks can declare the extra vars they need (e.g. `snapshot`). */
  plays: Play[];
}

// ───────────────────────────── plan ─────────────────────────────

export const PLAN_FORMAT = 'runbook-plan';
export const PLAN_VERSION = 1;

/**
 * What a step does on its target, as data. Commands are final shell text except for ⟨runtime⟩
 * placeholders. `bind` stores an action's result in the step-local scope `_` (e.g. `_.list.json`)
 * for later actions; `when` (a condition over that scope) skips an action at run time.
 */
export type Action = (
  | { kind: 'exec'; cmd: string; stdin?: string; probe?: boolean; parse?: 'json' | 'text'; okCodes?: number[]; note?: string }
  | {
      kind: 'put';
      dest: string;
      mode: string;
      owner?: string;
      content?: string;
      src?: string;
      sha256?: string;
      /** A file for every host of the task: sent once and relayed between them (engine/transports/relay), `listen` = this host's relay address. */
      relay?: { listen: string; compress: 'auto' | 'zstd' | 'off' };
    }
  | { kind: 'get'; src: string; dest: string }
  | { kind: 'local'; cmd: string; probe?: boolean; parse?: 'json' | 'text' }
  | { kind: 'check'; that: string[]; message?: string }
  | { kind: 'fail'; message: string }
  | { kind: 'pause'; seconds?: number; prompt?: string }
  | { kind: 'set_fact'; facts: JsonObject }
  | { kind: 'wait'; what: string; timeoutSec: number; cmd: string }
  /** Call a pure function from engine/modules/derive.ts; args that are exactly ⟨!_.x⟩ pass the value itself. */
  | { kind: 'derive'; fn: string; args: Json[] }
  /** A controller-side operation on snapshot storage or backup records (engine/execute/remote-ops.ts), run in-process. */
  | { kind: 'remote'; op: string; args: JsonObject }
) & { bind?: string; when?: string };

export interface Step {
  /** Stable id: "<play>.<task>@<host>", 1-based. */
  id: string;
  host: string;
  /** Where actions run: the host itself, another host (delegate_to) or "localhost" (controller). */
  target: string;
  /** What the step does, for a reviewer, on one line: module, op and intent (from the module's op table). */
  intent?: string;
  actions: Action[];
  /** Set when a static `when` was false at compile time. */
  skip?: string;
  /** Runtime values this step needs (⟨name⟩ placeholders), sorted. */
  needs: string[];
  /**
   * Run-time conditions of this step with its static values already filled in as literals
   * (e.g. `"etcd-2" != "etcd-2" and added.learner`). Present only where they differ from the task's.
   */
  when?: string[];
  until?: string[];
  changedWhen?: string[];
  failedWhen?: string[];
}

export interface PlannedTask extends TaskControl {
  index: number;
  /** What `register` stores: a ⟨!_.x⟩ reference into the step scope, or null for the last command's result. */
  result: Json;
  timeoutSec: number;
  /** Read-only tasks also run in --check mode. */
  checkMode: boolean;
  steps: Step[];
  /** The quorum timeline at this task (engine/compile/quorum.ts): one mark per batch whose steps change membership or stop a member. */
  quorum?: QuorumMark[];
}

/** The cluster as the inventory says, around one step: voting members, how many run, quorum, failures still survivable. */
export interface QuorumState {
  voting: number;
  up: number;
  quorum: number;
  /** up − quorum: more members that may fail (negative: no quorum). */
  tolerance: number;
  learners?: number;
}

export interface QuorumMark {
  hosts: string[];
  /** What the step does to the cluster, in words. */
  change: string;
  before: QuorumState;
  /** While a restart runs. */
  during?: QuorumState;
  after: QuorumState;
  /** Some of its steps only run when a run-time condition holds. */
  conditional?: boolean;
}

export interface PlannedPlay {
  index: number;
  name: string;
  pattern: string;
  hosts: string[];
  /** Batch sizes, resolved against the host count; one batch of all hosts when no `serial`. */
  batches: string[][];
  anyErrorsFatal: boolean;
  maxFailPercentage?: number;
  destructive: boolean;
  always?: boolean;
  tasks: PlannedTask[];
}

export interface PlanInput {
  role: 'playbook' | 'inventory' | 'file' | 'extra-vars';
  path: string;
  sha256: string;
}

export interface Plan {
  format: typeof PLAN_FORMAT;
  version: typeof PLAN_VERSION;
  runbook: string;
  playbook: string;
  inventory: string;
  cluster: string;
  limit?: string;
  /** The -e arguments and --tags it was compiled with: `apply plan.json` compiles them again. */
  extraVars?: string[];
  tags?: string[];
  inputs: PlanInput[];
  /** Host connection data the executor needs (no secrets). */
  hosts: Record<string, { address: string; ssh: SshSettings }>;
  secretVars: string[];
  destructive: boolean;
  plays: PlannedPlay[];
}

/** A Json value as text: strings as they are, everything else as JSON. */
export function jsonText(v: Json | undefined): string {
  if (v === undefined || v === null) return '';
  return typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v);
}
