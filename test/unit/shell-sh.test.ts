// sh`…` (engine/shell/sh.ts): every interpolated value is one quoted word; shell text (sh`…`, raw())
// goes in as it is; run-time placeholders are quoted when filled; a script never holds a placeholder.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { bashScript, joinSh, raw, sh, word } from '../../engine/shell/sh.js';
import { fillPlaceholders } from '../../engine/template/runtime.js';

/** The arguments a real /bin/sh makes of `cmd` (read back as JSON by node). */
function argvOf(cmd: string): string[] {
  const out = execFileSync('sh', ['-c', `set -- ${cmd}; node -e 'process.stdout.write(JSON.stringify(process.argv.slice(1)))' -- "$@"`], { encoding: 'utf8' });
  return JSON.parse(out) as string[];
}

const HOSTILE = ['x; touch /tmp/p', '$(touch /tmp/p)', '`touch /tmp/p`', "it's", '"; touch /tmp/p; "', 'a\nb', '--version', '', ' spaced ', '*', '~root'];

describe('sh`…` tagged template', () => {
  it('quotes every interpolated string as exactly one word, whatever it holds', () => {
    for (const v of HOSTILE) assert.deepEqual(argvOf(sh`${v}`.text), [v], JSON.stringify(v));
  });

  it('inserts lists as one word per element and numbers as digits', () => {
    assert.deepEqual(argvOf(sh`${['a b', "c'd", '$(x)']} ${42}`.text), ['a b', "c'd", '$(x)', '42']);
    assert.throws(() => sh`${Number.NaN}`, /not a finite number/);
  });

  it('inserts shell text from sh`…` and raw() unquoted, and nothing else', () => {
    const inner = sh`ls ${'a b'}`;
    assert.equal(sh`cd /x && ${inner}`.text, "cd /x && ls 'a b'");
    assert.equal(sh`${raw('$HOME')}`.text, '$HOME');
    assert.throws(() => sh`${JSON.parse('{"text":"rm -rf /"}') as string}`, /cannot insert/);
  });

  it('keeps run-time placeholders and quotes them when filled (⟨!x⟩ becomes ⟨x⟩)', () => {
    const cmd = sh`mkdir -p ${'/data/⟨!chosen.stdout⟩/x'}`.text;
    assert.equal(cmd, 'mkdir -p /data/⟨chosen.stdout⟩/x');
    const filled = fillPlaceholders(cmd, { chosen: { stdout: 'a; touch /tmp/p' } });
    assert.deepEqual(argvOf(filled.replace(/^mkdir -p /, '')), ['/data/a; touch /tmp/p/x']);
    assert.equal(word('⟨x⟩'), '⟨x⟩');
  });

  it('joins shell text with a separator', () => {
    assert.equal(joinSh([sh`a ${'1 2'}`, sh`b`], ' && ').text, "a '1 2' && b");
  });

  it('bashScript passes values as arguments and refuses a placeholder inside the script', () => {
    const s = bashScript(sh`printf '%s' "$1"`, 'name', '$(touch /tmp/p)');
    assert.equal(execFileSync('sh', ['-c', s.text], { encoding: 'utf8' }), '$(touch /tmp/p)');
    assert.throws(() => bashScript(sh`echo ${'⟨!x⟩'}`, 'n'), /arguments, not inside the script/);
  });
});
