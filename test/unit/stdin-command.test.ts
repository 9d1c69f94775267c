// Command text on stdin (shell/stdin-command.ts): the fixed reader runs exactly the command it is
// sent, under dash (sh) and bash, and leaves the rest of stdin to the command.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { encodeCommandLine, READ_AND_EVAL } from '../../engine/shell/stdin-command.js';

const COMMANDS = [
  `printf '%s|' "a\\\\b" 'c\\nd' "\\0101" '%s' '\\c'; echo`,
  'cat <<EOF\nline1 $HOME \\c\n\tEOF\nEOF\n',
  'echo "multi\nline"; exit 7',
  'x=1\n\n\necho "$x" trailing newlines kept\n\n\n',
  `echo 'it'"'"'s' "$((6 * 7))" \`echo back\``,
];

describe('command text on stdin', () => {
  for (const shell of ['sh', 'bash']) {
    for (const cmd of COMMANDS) {
      it(`${shell}: ${JSON.stringify(cmd).slice(0, 60)} runs as if given to ${shell} -c`, () => {
        const viaStdin = spawnSync(shell, ['-c', READ_AND_EVAL], { input: encodeCommandLine(cmd) });
        const direct = spawnSync(shell, ['-c', cmd]);
        assert.equal(viaStdin.status, direct.status);
        assert.equal(viaStdin.stdout.toString('latin1'), direct.stdout.toString('latin1'));
      });
    }
    it(`${shell}: the rest of stdin is the command's, byte for byte`, () => {
      const data = Buffer.from('first line\n\u0000binary\xff\nno newline at the end', 'latin1');
      const r = spawnSync(shell, ['-c', READ_AND_EVAL], { input: Buffer.concat([Buffer.from(encodeCommandLine('cat; echo " rc=$?"')), data]) });
      assert.equal(r.status, 0);
      assert.deepEqual(r.stdout, Buffer.concat([data, Buffer.from(' rc=0\n')]));
    });
  }

  it('encodes to one line, and refuses a NUL byte', () => {
    const line = encodeCommandLine('a\nb\\c\r\n');
    assert.equal(line, 'a\\nb\\\\c\r\\n\n');
    assert.equal(line.indexOf('\n'), line.length - 1);
    assert.throws(() => encodeCommandLine('a\0b'), TypeError);
  });
});
