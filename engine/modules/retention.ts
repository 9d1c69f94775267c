// Backup retention: which snapshots to delete, by count and by age, with the reason for each. Pure:
// the same function decides for the member's backup dir, the controller's and remote storage, each
// side with its own rules (k3s mixed local and remote retention: k3s#3178, #13769).
//
// A snapshot is deleted only when EVERY rule allows it (it is beyond the newest `count` AND older
// than `maxAgeSec`, for the rules that are set), and never when it is the newest verified one.
import type { KeepRules } from '../model/types.js';

/** Rules of one side (inventory `backup_keep`, `backup_remote.keep`). */
export type RetentionRules = KeepRules;

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

/** 2d 2h, 10h 5m, 7m, 30s: the two largest units (a few seconds past a round age do not change it). */
function age(sec: number): string {
  const d = Math.floor(sec / 86400);
  const h = Math.floor((sec % 86400) / 3600);
  const m = Math.floor((sec % 3600) / 60);
  if (d > 0) return `${d}d${h ? ` ${h}h` : ''}`;
  if (h > 0) return `${h}h${m ? ` ${m}m` : ''}`;
  if (m > 0) return `${m}m`;
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

const STAMP = /-(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z\.db$/;

/**
 * When a snapshot was taken, from its name `<cluster>-YYYYMMDDTHHMMSSZ.db` (backup.yml names it by
 * the run's UTC time): a copy, a re-upload or a restored bucket keeps its age. null for other names.
 */
export function stampTime(name: string): number | null {
  const m = STAMP.exec(name);
  if (!m) return null;
  const t = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  // Date.UTC rolls month 13 or hour 25 over: only a stamp that reads back the same is one.
  if (Number.isNaN(t) || new Date(t).toISOString().replace(/[-:]/g, '').slice(0, 15) !== `${m[1]}${m[2]}${m[3]}T${m[4]}${m[5]}${m[6]}`) return null;
  return Math.floor(t / 1000);
}

/** The run's `YYYYMMDDTHHMMSSZ` as epoch seconds. */
export function runTime(stamp: string): number {
  const t = stampTime(`x-${stamp}.db`);
  if (t === null) throw new Error(`not a run timestamp: ${stamp}`);
  return t;
}

/**
 * Member / controller retention from a directory listing, one snapshot per line:
 * `NAME<TAB>1|0 (manifest present)<TAB>MTIME`. Only `<cluster>-*.db` names count; the time is the
 * name's stamp (the file's mtime for other names). Returns the decision and the lines the deleting
 * command reads (`NAME<TAB>reason`).
 */
export function retentionFromListing(listing: string, cluster: string, rules: RetentionRules, nowSec: number): RetentionDecision & { lines: string } {
  const candidates: Candidate[] = [];
  for (const line of listing.split('\n')) {
    const [name, manifest, mtime] = line.split('\t');
    if (!name || !name.startsWith(`${cluster}-`) || !name.endsWith('.db') || name.includes('/')) continue;
    candidates.push({ key: name, time: stampTime(name) ?? Number(mtime ?? 0), verified: manifest === '1' });
  }
  const d = decideRetention(candidates, rules, nowSec);
  return { ...d, lines: d.delete.map((v) => `${v.key}\t${v.reason}\n`).join('') };
}
