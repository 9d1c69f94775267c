// Word-level diffs and member lists compared as sets (engine/diff/words.ts, sets.ts, lcs.ts).
import assert from 'node:assert/strict';
import { edits, lcsPairs } from '../../engine/diff/lcs.js';
import { actionKey, canonicalText, listsIn, setDiff } from '../../engine/diff/sets.js';
import { diffLine, wordKey } from '../../engine/diff/words.js';
import type { Action } from '../../engine/model/types.js';

const IC3 = 'etcd-1=https://10.0.1.11:2380,etcd-2=https://10.0.1.12:2380,etcd-3=https://10.0.1.13:2380';
const IC3_REORDERED = 'etcd-1=https://10.0.1.11:2380,etcd-3=https://10.0.1.13:2380,etcd-2=https://10.0.1.12:2380';
const IC_REPLACED = 'etcd-1=https://10.0.1.11:2380,etcd-2=https://10.0.1.12:2380,etcd-4=https://10.0.1.14:2380';
const restore = (ic: string, name = 'etcd-1'): string =>
  `$ etcdutl snapshot restore /b/r.db --name=${name} --initial-cluster=${ic} --initial-cluster-token=t --data-dir=/var/lib/etcd`;

describe('diff: member lists are sets', () => {
  it('a reordered --initial-cluster, --endpoints or ETCD_INITIAL_CLUSTER has the same canonical text', () => {
    assert.equal(canonicalText(restore(IC3)), canonicalText(restore(IC3_REORDERED)));
    assert.equal(
      canonicalText('etcdctl --endpoints=https://a:2379,https://b:2379 endpoint health'),
      canonicalText('etcdctl --endpoints=https://b:2379,https://a:2379 endpoint health'),
    );
    const sed = (ic: string): string => `sed -i 's|^ETCD_INITIAL_CLUSTER=.*$|ETCD_INITIAL_CLUSTER=${ic}|' /etc/etcd/etcd.conf`;
    assert.equal(canonicalText(sed(IC3)), canonicalText(sed(IC3_REORDERED)));
    assert.notEqual(canonicalText(restore(IC3)), canonicalText(restore(IC_REPLACED)));
  });

  it('leaves other comma lists alone (their order may matter)', () => {
    for (const s of ['cut -d, -f1,2', 'echo a,b,c', 'chown etcd:etcd,root x', 'printf %s 2,1']) assert.equal(canonicalText(s), s);
    assert.notEqual(canonicalText('--peer-urls=https://a:2380 x,y'), canonicalText('--peer-urls=https://a:2380 y,x'));
  });

  it('finds the lists, the flag or variable they belong to, and their items', () => {
    assert.deepEqual(
      listsIn(`--initial-cluster=${IC3}`).map((l) => [l.key, l.items.length, l.start]),
      [['--initial-cluster', 3, '--initial-cluster='.length]],
    );
    assert.equal(listsIn(`'s|^X=.*$|ETCD_INITIAL_CLUSTER=${IC3}|'`)[0]?.key, 'ETCD_INITIAL_CLUSTER');
    assert.equal(listsIn('--endpoints=https://a:2379,https://b:2379')[0]?.key, '--endpoints');
    assert.equal(listsIn('all of https://a:2379,https://b:2379 healthy')[0]?.key, undefined);
    assert.deepEqual(listsIn('--endpoints=https://a:2379'), [], 'one URL is not a list');
  });

  it('setDiff: items added and removed, in their own order', () => {
    assert.deepEqual(setDiff(['a', 'b', 'c'], ['c', 'd', 'a']), { added: ['d'], removed: ['b'] });
  });

  it('actionKey: equal for actions that do the same thing, whatever the key order or member order', () => {
    const a: Action = { kind: 'exec', cmd: restore(IC3), probe: true };
    const b = JSON.parse(JSON.stringify({ probe: true, cmd: restore(IC3_REORDERED), kind: 'exec' })) as Action;
    assert.equal(actionKey(a), actionKey(b));
    assert.notEqual(actionKey(a), actionKey({ ...a, probe: false }));
    const members = (names: string): Action => ({ kind: 'derive', fn: 'require_members', args: ['⟨!_.list.json⟩', names], bind: 'members' });
    assert.equal(actionKey(members('etcd-1,etcd-2,etcd-3')), actionKey(members('etcd-3,etcd-1,etcd-2')));
    assert.notEqual(actionKey(members('etcd-1,etcd-2,etcd-3')), actionKey(members('etcd-1,etcd-2,etcd-4')));
    const stdin = (s: string): Action => ({ kind: 'exec', cmd: 'tee x', stdin: s });
    assert.notEqual(actionKey(stdin('one')), actionKey(stdin('two')), 'stdin is compared though the plan text shows only its length');
  });
});

describe('diff: words of a line', () => {
  it('a changed flag value: the flag named, only the changed part highlighted', () => {
    const l = diffLine('$ etcdctl defrag --command-timeout=300s', '$ etcdctl defrag --command-timeout=600s');
    assert.deepEqual(l.words, [{ key: '--command-timeout', old: '--command-timeout=300s', new: '--command-timeout=600s' }]);
    const old = l.old ?? '';
    const [[a, b]] = l.oldSpans as [[number, number]];
    assert.equal(old.slice(a, b), '3');
    assert.equal((l.new ?? '').slice(...((l.newSpans ?? [])[0] ?? [0, 0])), '6');
  });

  it('a member replaced: the --initial-cluster word lists the member added and the one removed', () => {
    const l = diffLine(restore(IC3), restore(IC_REPLACED));
    assert.deepEqual(l.words, [
      {
        key: '--initial-cluster',
        old: `--initial-cluster=${IC3}`,
        new: `--initial-cluster=${IC_REPLACED}`,
        added: ['etcd-4=https://10.0.1.14:2380'],
        removed: ['etcd-3=https://10.0.1.13:2380'],
      },
    ]);
    // Only the changed members are highlighted, not the whole 3-member value.
    assert.deepEqual(
      (l.newSpans ?? []).map(([a, b]) => (l.new ?? '').slice(a, b)),
      ['etcd-4=https://10.0.1.14:2380'],
    );
  });

  it('a reordered member list is not a changed word', () => {
    assert.deepEqual(diffLine(restore(IC3), restore(IC3_REORDERED)).words, []);
    // …while another change in the same line still is.
    assert.deepEqual(
      diffLine(restore(IC3), restore(IC3_REORDERED, 'etcd-9')).words.map((w) => w.key),
      ['--name'],
    );
  });

  it('added and removed words: flags keep their names; a single leftover pair is one change', () => {
    const l = diffLine('$ etcdctl endpoint health', '$ etcdctl endpoint health --cluster');
    assert.deepEqual(l.words, [{ new: '--cluster' }]);
    const m = diffLine('$ a --x=1 b', '$ a b --y=2');
    assert.deepEqual(m.words, [
      { key: '--x', old: '--x=1' },
      { key: '--y', new: '--y=2' },
    ]);
    const n = diffLine('$ systemctl stop etcd', '$ systemctl restart etcd');
    assert.deepEqual(n.words, [{ old: 'stop', new: 'restart' }]);
  });

  it('wordKey: --flag=, VAR=, and the variable of a list inside a sed expression', () => {
    assert.equal(wordKey('--data-dir=/x'), '--data-dir');
    assert.equal(wordKey('ETCD_NAME=etcd-1'), 'ETCD_NAME');
    assert.equal(wordKey(`'s|^ETCD_INITIAL_CLUSTER=.*$|ETCD_INITIAL_CLUSTER=${IC3}|'`), 'ETCD_INITIAL_CLUSTER');
    assert.equal(wordKey('restore'), undefined);
  });
});

describe('diff: longest common subsequence', () => {
  it('an inserted item is one change, not a cascade', () => {
    const e = edits(['a', 'b', 'c', 'd'], ['a', 'b', 'x', 'c', 'd']);
    assert.deepEqual(
      e.filter((x) => x.op === 'change'),
      [{ op: 'change', a: [], b: [2] }],
    );
  });

  it('pairs in order, common prefix and suffix included', () => {
    assert.deepEqual(lcsPairs(['a', 'b', 'c'], ['b', 'c', 'a']), [
      [1, 0],
      [2, 1],
    ]);
    assert.deepEqual(lcsPairs([], ['a']), []);
  });
});
