// Run-time placeholders: ⟨x⟩ is filled shell-quoted, ⟨!x⟩ raw; a missing value is an error, never ''.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  fillPlaceholders,
  isRuntimeRef,
  MissingRuntimeValueError,
  placeholder,
  placeholdersIn,
  refPath,
  resolvePath,
  runtimeRef,
} from '../../engine/template/runtime.js';

const sh = (cmd: string): string => execFileSync('/bin/sh', ['-c', cmd], { encoding: 'utf8' });

describe('runtime placeholders', () => {
  const values = {
    rev: { stdout: 'a b; $(id)', rc: 0, json: { members: [{ ID: '9372538179322589801' }] } },
    run: { id: 'r-1', timestamp: '20261122T010203Z' },
    _: { source: 'https://10.0.0.1:2379' },
  };

  it('⟨x⟩ is shell-quoted, ⟨!x⟩ inserted as it is', () => {
    assert.equal(fillPlaceholders('echo ⟨rev.stdout⟩', values), "echo 'a b; $(id)'");
    assert.equal(fillPlaceholders('echo ⟨!rev.stdout⟩', values), 'echo a b; $(id)');
    assert.equal(fillPlaceholders('snap-⟨run.timestamp⟩.db', values), 'snap-20261122T010203Z.db');
    assert.equal(fillPlaceholders('--endpoints=⟨_.source⟩', values), '--endpoints=https://10.0.0.1:2379');
  });

  it('a quoted value survives /bin/sh as one word', () => {
    assert.equal(sh(fillPlaceholders("printf '%s' ⟨rev.stdout⟩", values)), 'a b; $(id)');
  });

  it('numbers and structures become text', () => {
    assert.equal(fillPlaceholders('rc=⟨rev.rc⟩', values), 'rc=0');
    assert.equal(fillPlaceholders('⟨!rev.json.members⟩', values), '[{"ID":"9372538179322589801"}]');
    assert.equal(fillPlaceholders('⟨rev.json.members.0.ID⟩', values), '9372538179322589801');
  });

  it('a missing value throws MissingRuntimeValueError naming the path', () => {
    for (const text of ['echo ⟨rev.nope⟩', 'echo ⟨!nope.x⟩', '⟨rev.stdout.length⟩', '⟨rev.constructor⟩', '⟨rev.__proto__⟩']) {
      assert.throws(
        () => fillPlaceholders(text, values),
        (e: unknown) => e instanceof MissingRuntimeValueError && text.includes(e.path),
        text,
      );
    }
  });

  it('placeholdersIn lists each needed path once', () => {
    assert.deepEqual(placeholdersIn('a ⟨x.y⟩ ⟨!x.y⟩ ⟨run.id⟩ ⟨_.h.json⟩ plain'), ['x.y', 'run.id', '_.h.json']);
    assert.deepEqual(placeholdersIn('no placeholders'), []);
  });

  it('resolvePath reads own properties only', () => {
    assert.equal(resolvePath(values, 'rev.rc'), 0);
    assert.equal(resolvePath(values, 'rev.nope'), undefined);
    assert.equal(resolvePath(values, 'rev.constructor'), undefined);
    assert.equal(resolvePath(values, 'rev.stdout.length'), undefined);
  });

  it('runtimeRef builds paths by property access and renders as a raw placeholder', () => {
    const r = runtimeRef('rev') as unknown as Record<string, Record<string, unknown>>;
    const deep = r.json?.members;
    assert.ok(isRuntimeRef(deep));
    assert.equal(refPath(deep), 'rev.json.members');
    assert.equal(String(deep), '⟨!rev.json.members⟩');
    assert.equal(placeholder('a.b'), '⟨a.b⟩');
    assert.equal(placeholder('a.b', true), '⟨!a.b⟩');
    // Keys that are also RuntimeRef members (path, file) are still paths.
    assert.equal(refPath(r.path as unknown as Parameters<typeof refPath>[0]), 'rev.path');
  });
});
