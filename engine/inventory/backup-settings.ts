// The backup parts of `cluster:` (README "Backups off the host"): retention per side, the S3 target
// and the metrics directory. Credentials are never settings: they are the inventory secrets
// s3_access_key_id and s3_secret_access_key (optionally s3_session_token), read only when applying.
import { diag, type Diagnostic } from '../model/diagnostics.js';
import type { Json, KeepRules, RemoteBackupSettings } from '../model/types.js';
import { locate, type Source } from '../load/source.js';

type Raw = Record<string, Json | undefined>;

/** The secrets a remote target needs (names fixed, like ssh_passphrase and sudo_password). */
export const S3_SECRETS = ['s3_access_key_id', 's3_secret_access_key'] as const;

const DURATION = /^([1-9][0-9]*)(s|m|h|d|w)$/;
const UNIT_SEC: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** `48h`, `2d`, `90m` → seconds; null when not a duration (the schema already refused those). */
export function parseDuration(text: string): number | null {
  const m = DURATION.exec(text.trim());
  if (!m) return null;
  return Number(m[1]) * (UNIT_SEC[m[2] ?? 's'] ?? 1);
}

function obj(v: Json | undefined): Raw {
  return v && typeof v === 'object' && !Array.isArray(v) ? v : {};
}

export function keepRules(v: Json | undefined, defaultCount?: number): KeepRules {
  const k = obj(v);
  const out: KeepRules = {};
  const count = typeof k.count === 'number' ? k.count : defaultCount;
  if (count !== undefined) out.count = count;
  const age = typeof k.max_age === 'string' ? parseDuration(k.max_age) : null;
  if (age !== null) out.maxAgeSec = age;
  return out;
}

export function remoteBackup(c: Raw): RemoteBackupSettings | undefined {
  if (c.backup_remote === undefined) return undefined;
  const r = obj(c.backup_remote);
  const s3 = obj(r.s3);
  const str = (k: string, d: string): string => (typeof s3[k] === 'string' ? s3[k] : d);
  return {
    s3: {
      ...(typeof s3.endpoint === 'string' ? { endpoint: s3.endpoint.replace(/\/+$/, '') } : {}),
      bucket: str('bucket', ''),
      prefix: str('prefix', ''),
      region: str('region', 'us-east-1'),
      pathStyle: s3.path_style === true,
    },
    // Remote retention is its own: a bucket often keeps longer than a member's disk can.
    keep: keepRules(r.keep),
  };
}

/** A remote target without its credentials among the secrets: exit 2 at the setting, nothing runs. */
export function remoteBackupProblems(source: Source, root: Raw): Diagnostic[] {
  const c = obj(root.cluster);
  if (c.backup_remote === undefined) return [];
  const secrets = obj(root.secrets);
  const missing = S3_SECRETS.filter((k) => secrets[k] === undefined);
  if (missing.length === 0) return [];
  const at = locate(source, ['cluster', 'backup_remote'], true);
  return [
    diag('missing-secret', `cluster.backup_remote needs the secret${missing.length > 1 ? 's' : ''} ${missing.join(' and ')}`, at, {
      length: at.length,
      hint: `declare them under secrets:, e.g. ${missing[0]}: {env: ${(missing[0] ?? '').toUpperCase()}} (credentials never go in settings)`,
    }),
  ];
}
