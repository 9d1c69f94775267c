// Backup retention: which snapshots to delete, by count and by age, with the reason for each. Pure:
// the same function decides for the member's backup dir, the controller's and remote storage, each
// side with its own rules (k3s mixed local and remote retention: k3s#3178, #13769).
//
// A snapshot is deleted only when EVERY rule allows it (it is beyond the newest `count` AND older
// than `maxAgeSec`, for the rules that are set), and never when it is the newest verified one.

export interface RetentionRules {
  /** Keep at least this many of the newest snapshots. */
  count?: number;
  /** Keep every snapshot younger than this (seconds). */
  maxAgeSec?: number;
}

export interface Candidate {
  /** File name or object key. */
  key: string;
  /** When it was taken (epoch seconds). */
  time: number;
  /** Its hash was checked against its manifest (a remote object: the upload was verified). */
  verified: boolean;
}

export interface Verdict {
  key: string;
  reason: string;
}

export interface RetentionDecision {
  keep: Verdict[];
  delete: Verdict[];
}

const DURATION = /^([1-9][0-9]*)(s|m|h|d|w)$/;
const UNIT_SEC: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** `48h`, `2d`, `90m` → seconds; null when not a duration. */
export function parseDuration(text: string): number | null {
  const m = DURATION.exec(text.trim());
  if (!m) return null;
  return Number(m[1]) * (UNIT_SEC[m[2] ?? 's'] ?? 1);
}

function age(sec: number): string {
  if (sec >= 86400 && sec % 3600 === 0) return `${Math.floor(sec / 86400)}d${sec % 86400 ? ` ${(sec % 86400) / 3600}h` : ''}`;
  if (sec >= 3600) return `${Math.floor(sec / 3600)}h${sec % 3600 >= 60 ? ` ${Math.floor((sec % 3600) / 60)}m` : ''}`;
  if (sec >= 60) return `${Math.floor(sec / 60)}m`;
  return `${sec}s`;
}

/**
 * Decide. With no rule set nothing is deleted. Ties in time keep key order (stable, newest first
 * by time then key), so two runs over the same list decide the same.
 */
export function decideRetention(candidates: readonly Candidate[], rules: RetentionRules, nowSec: number): RetentionDecision {
  const sorted = [...candidates].sort((a, b) => b.time - a.time || (a.key < b.key ? 1 : a.key > b.key ? -1 : 0));
  const newestVerified = sorted.find((c) => c.verified)?.key;
  const decision: RetentionDecision = { keep: [], delete: [] };
  const noRule = rules.count === undefined && rules.maxAgeSec === undefined;
  sorted.forEach((c, i) => {
    const a = Math.max(0, nowSec - c.time);
    if (c.key === newestVerified) return decision.keep.push({ key: c.key, reason: 'the newest verified snapshot is never deleted' });
    if (noRule) return decision.keep.push({ key: c.key, reason: 'no retention rule set' });
    if (rules.count !== undefined && i < rules.count) return decision.keep.push({ key: c.key, reason: `among the newest ${rules.count}` });
    if (rules.maxAgeSec !== undefined && a <= rules.maxAgeSec)
      return decision.keep.push({ key: c.key, reason: `${age(a)} old, within max_age ${age(rules.maxAgeSec)}` });
    const why = [
      ...(rules.count !== undefined ? [`beyond the newest ${rules.count}`] : []),
      ...(rules.maxAgeSec !== undefined ? [`${age(a)} old, over max_age ${age(rules.maxAgeSec)}`] : []),
    ];
    decision.delete.push({ key: c.key, reason: why.join(' and ') });
  });
  return decision;
}
