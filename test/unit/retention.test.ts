// Retention by count and age: a snapshot is deleted only when every set rule allows it, the newest
// verified one never, and each decision says why.
import assert from 'node:assert/strict';
import { parseDuration } from '../../engine/inventory/backup-settings.js';
import { decideRetention, retentionFromListing, runTime, stampTime, type Candidate } from '../../engine/modules/retention.js';

const H = 3600;
const NOW = 100 * H;
/** Snapshots taken every 2 h, newest first: s0 (now) … s{n-1}. */
const every2h = (n: number, verified = true): Candidate[] => Array.from({ length: n }, (_, i) => ({ key: `s${i}`, time: NOW - i * 2 * H, verified }));
const keys = (v: { key: string }[]): string[] => v.map((x) => x.key);

describe('backup retention (count and age)', () => {
  it('parses durations: 48h, 2d, 90m, 1w; refuses the rest', () => {
    assert.deepEqual(['48h', '2d', '90m', '1w', '30s'].map(parseDuration), [48 * H, 48 * H, 90 * 60, 7 * 24 * H, 30]);
    for (const bad of ['', '0h', '-1h', '1.5h', '2 days', 'h', '48H']) assert.equal(parseDuration(bad), null, bad);
  });

  it('count only: keeps the newest N, deletes the rest with the reason', () => {
    const d = decideRetention(every2h(6), { count: 4 }, NOW);
    assert.deepEqual(keys(d.keep), ['s0', 's1', 's2', 's3']);
    assert.deepEqual(keys(d.delete), ['s4', 's5']);
    assert.equal(d.delete[0]?.reason, 'beyond the newest 4');
  });

  it('age only: keeps everything within max_age (seed 000: two days)', () => {
    const d = decideRetention(every2h(30), { maxAgeSec: 48 * H }, NOW);
    assert.deepEqual(
      keys(d.keep),
      every2h(25).map((c) => c.key),
    ); // 0 … 48 h old
    assert.deepEqual(keys(d.delete), ['s25', 's26', 's27', 's28', 's29']);
    assert.equal(d.delete[0]?.reason, '2d 2h old, over max_age 2d');
  });

  it('both rules: deleted only when beyond the count AND older than max_age', () => {
    const d = decideRetention(every2h(30), { count: 3, maxAgeSec: 10 * H }, NOW);
    assert.deepEqual(keys(d.keep), ['s0', 's1', 's2', 's3', 's4', 's5']); // 3 newest, then ≤ 10 h old
    assert.equal(d.delete.length, 24);
    assert.equal(d.delete[0]?.reason, 'beyond the newest 3 and 12h old, over max_age 10h');
    const fewOld = decideRetention(
      every2h(3).map((c) => ({ ...c, time: c.time - 100 * H })),
      { count: 3, maxAgeSec: 10 * H },
      NOW,
    );
    assert.deepEqual(fewOld.delete, [], 'old, but not beyond the count: kept');
  });

  it('the newest verified snapshot is never deleted, even when every rule would', () => {
    const list: Candidate[] = [
      { key: 'new-unverified-1', time: NOW, verified: false },
      { key: 'new-unverified-2', time: NOW - H, verified: false },
      { key: 'old-verified', time: NOW - 500 * H, verified: true },
      { key: 'older-verified', time: NOW - 600 * H, verified: true },
    ];
    const d = decideRetention(list, { count: 2, maxAgeSec: 24 * H }, NOW);
    assert.deepEqual(keys(d.keep), ['new-unverified-1', 'new-unverified-2', 'old-verified']);
    assert.equal(d.keep[2]?.reason, 'the newest verified snapshot is never deleted');
    assert.deepEqual(keys(d.delete), ['older-verified']);
  });

  it('no rule set: nothing is deleted; the same input decides the same whatever its order', () => {
    assert.deepEqual(decideRetention(every2h(5), {}, NOW).delete, []);
    const list = every2h(8).map((c, i) => ({ ...c, time: i < 4 ? NOW : c.time })); // four with the same time
    const a = decideRetention(list, { count: 2 }, NOW);
    const b = decideRetention([...list].reverse(), { count: 2 }, NOW);
    assert.deepEqual(a, b);
  });

  it('a directory listing (member or controller): the time is the stamp in the name, other clusters and odd names ignored, one line per deletion', () => {
    const now = runTime('20240110T000000Z');
    const listing = [
      'prod-20240109T230000Z.db\t1\t0', // 1 h old
      'prod-20240105T000000Z.db\t1\t1704844800', // 5 d old by its name (the mtime says recent: a copy)
      'prod-20240101T000000Z.db\t0\t0', // 9 d old, no manifest
      'staging-20240101T000000Z.db\t1\t0', // another cluster in the same dir
      'prod-restore.db\t1\t1704067200', // no stamp: its mtime (2024-01-01)
      '',
    ].join('\n');
    const d = retentionFromListing(listing, 'prod', { count: 1, maxAgeSec: 48 * H }, now);
    assert.deepEqual(keys(d.keep), ['prod-20240109T230000Z.db']);
    assert.deepEqual(keys(d.delete).sort(), ['prod-20240101T000000Z.db', 'prod-20240105T000000Z.db', 'prod-restore.db']);
    assert.equal(d.lines.split('\n').filter(Boolean).length, 3);
    assert.match(d.lines, /^prod-20240105T000000Z\.db\tbeyond the newest 1 and 5d old, over max_age 2d$/m);
    assert.equal(stampTime('prod-20241301T000000Z.db'), null, 'month 13 is no stamp');
  });
});
