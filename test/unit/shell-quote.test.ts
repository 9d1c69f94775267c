import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { shq, shqArgs } from '../../engine/shell/quote.js';

/** What /bin/sh prints for `printf %s <quoted>`: the word after quote removal. */
function viaSh(word: string, shell = '/bin/sh'): string {
  return execFileSync(shell, ['-c', `printf %s ${word}`], { encoding: 'utf8' });
}

describe('shq (POSIX shell quoting)', () => {
  it('leaves safe words unquoted', () => {
    for (const w of ['abc', 'A_b-9', '/etc/etcd/etcd.conf', 'user@host:2222', 'a=b,c+d%e', '-rf', '0644']) {
      assert.equal(shq(w), w);
    }
  });

  it('quotes the empty string as two single quotes', () => {
    assert.equal(shq(''), "''");
    assert.equal(viaSh(shq('')), '');
  });

  it("single-quotes everything else, writing ' as '\\''", () => {
    assert.equal(shq('a b'), "'a b'");
    assert.equal(shq("it's"), "'it'\\''s'");
    assert.equal(shq("'"), "''\\'''");
    assert.equal(shq('$HOME'), "'$HOME'");
    assert.equal(shq('*'), "'*'");
    assert.equal(shq('~'), "'~'");
  });

  const nasty = [
    '$(touch /tmp/runbook-shq-pwned)',
    '`touch /tmp/runbook-shq-pwned`',
    'a; rm -rf /nonexistent-runbook',
    'a | cat',
    'a && b || c',
    'line1\nline2\n',
    "single ' quote",
    "''",
    "'''",
    'double " quote',
    '\\backslash\\n',
    '-n',
    '--help',
    '-e \\n',
    'tab\there',
    'glob * ? [a-z]',
    '~root',
    '!history',
    '${IFS}$0$$',
    'unicode: żółć ✓ 日本語 🚀',
    '#comment',
    '>redirect <in 2>&1',
    '\r\n',
    ' leading and trailing ',
  ];

  for (const shell of ['/bin/sh', '/bin/bash']) {
    it(`round-trips nasty strings through ${shell} -c 'printf %s …'`, () => {
      for (const s of nasty) assert.equal(viaSh(shq(s), shell), s, `for ${JSON.stringify(s)}`);
    });
  }

  it('survives double quoting (a quoted command inside sh -c inside sh -c)', () => {
    for (const s of nasty) {
      const inner = `printf %s ${shq(s)}`;
      const out = execFileSync('/bin/sh', ['-c', `sh -c ${shq(inner)}`], { encoding: 'utf8' });
      assert.equal(out, s);
    }
  });

  it('rejects NUL, which no shell word can carry', () => {
    assert.throws(() => shq('a\0b'), TypeError);
  });

  it('shqArgs quotes each argument', () => {
    assert.equal(shqArgs(['printf', '%s|', 'a b', '']), "printf '%s|' 'a b' ''");
    assert.equal(execFileSync('/bin/sh', ['-c', shqArgs(['printf', '%s|', 'a b', "c'd", ''])], { encoding: 'utf8' }), "a b|c'd||");
  });
});
