// Every problem runbook finds in its input is a Diagnostic: a stable code (tests assert it),
// a position, a message saying what was expected, and a hint where one helps.
import type { SourceRef } from './types.js';

export type DiagnosticCode =
  | 'yaml-syntax'
  | 'duplicate-key'
  | 'empty-file'
  | 'forbidden-key'
  | 'merge-key'
  | 'file-not-found'
  /** Over a limit of README "Input limits" (size, depth, aliases, counts), or not UTF-8 text. */
  | 'input-limit'
  /** Inventory: ssh.jump hosts that lead back to a host on the way. */
  | 'jump-loop'
  /** An Ansible/kubespray inventory that cannot be carried over (Jinja, a folded hosts: list, no group etcd, no etcd version). */
  | 'ansible-inventory'
  /** Inventory: cluster.scheme http together with a tls: block. */
  | 'scheme-tls-conflict'
  /** Inventory: a setting needs a secret that is not declared (cluster.backup_remote's credentials). */
  | 'missing-secret'
  | 'schema-type'
  | 'schema-required'
  | 'schema-unknown-key'
  | 'schema-pattern'
  | 'schema-enum'
  | 'schema-range'
  | 'schema'
  | 'unknown-module'
  | 'multiple-modules'
  | 'no-module'
  | 'module-args'
  | 'template-syntax'
  | 'undefined-variable'
  | 'runtime-value-misuse'
  | 'condition-syntax'
  | 'unknown-host'
  | 'unknown-group'
  | 'no-hosts'
  | 'duplicate-host'
  | 'duplicate-member'
  | 'duplicate-address'
  | 'register-before-set'
  | 'unsafe-value'
  | 'bad-extra-var'
  /** A variable named like one runbook defines (cluster, member, run, secrets, …). */
  | 'reserved-name'
  /** A {{value}} inside quotes, a here-document or a comment of a shell command. */
  | 'template-quoting'
  /** A name that must be an etcd member of the inventory is not one. */
  | 'unknown-member'
  /** A templated module argument that rendered to the empty string (a variable not given). */
  | 'empty-value'
  /** A step that would leave fewer running voting members than the quorum (engine/compile/quorum.ts). */
  | 'quorum-lost'
  /** A variable the playbook lists in vars_required was not given (or is empty). */
  | 'missing-var'
  | 'invalid-limit'
  /** -t TAG that no task of the playbook carries (the plan would silently be empty). */
  | 'unknown-tag'
  /** runbook diff --base: not a git repository, an unknown revision, or git failed. */
  | 'git-error'
  /** runbook diff --base: an input file does not exist at the base revision. */
  | 'not-in-revision'
  /** A saved plan (plan.json) that cannot be read or is not JSON. */
  | 'plan-unreadable'
  /** A saved plan of another format or version, or with missing fields. */
  | 'plan-format';

export interface Diagnostic {
  code: DiagnosticCode;
  severity: 'error' | 'warning';
  message: string;
  file: string;
  line: number;
  col: number;
  /** Length of the span to underline (at least 1). */
  length?: number;
  hint?: string;
  /** JSON pointer of the node it is about (e.g. `/0/tasks/2/shell`), when it came from one. */
  path?: string;
}

export function diag(
  code: DiagnosticCode,
  message: string,
  at: SourceRef,
  extra: { hint?: string; length?: number; severity?: 'error' | 'warning'; path?: string } = {},
): Diagnostic {
  return {
    code,
    severity: extra.severity ?? 'error',
    message,
    file: at.file,
    line: at.line,
    col: at.col,
    ...(extra.length !== undefined ? { length: extra.length } : {}),
    ...(extra.hint !== undefined ? { hint: extra.hint } : {}),
    ...(extra.path !== undefined ? { path: extra.path } : {}),
  };
}
