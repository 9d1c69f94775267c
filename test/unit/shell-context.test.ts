// Where a {{value}} sits in a shell command (engine/template/shell-context.ts): inside quotes, a
// here-document or a comment its single-quoting does not protect it, so validate refuses it there.
import assert from 'node:assert/strict';
import { misplacedValues } from '../../engine/template/shell-context.js';

const where = (cmd: string): string[] => misplacedValues(cmd).map((m) => `${m.text}@${m.offset}:${m.context}`);

describe('shell context of {{values}}', () => {
  it('accepts values where the shell reads words, including inside $( ) and backticks', () => {
    for (const ok of [
      'echo {{x}}',
      'f={{x}}; printf "%s" "$f"',
      'echo "$(cat {{x}})"',
      'echo `cat {{x}}`',
      'echo "a" {{x}} \'b\'',
      'echo \\"{{x}}',
      "echo $'a\\'' {{x}}",
      'echo {{{x}}} "{{{y}}}"',
      'echo "{{#if a}}" x "{{/if}}"',
      'cat <<<{{x}}',
      'a=$((1 + 2)) {{x}}',
      'echo a#{{x}}',
    ]) {
      assert.deepEqual(where(ok), [], ok);
    }
  });

  it('refuses values inside single and double quotes', () => {
    assert.deepEqual(where("echo '{{x}}'"), ['{{x}}@6:single quotes']);
    assert.deepEqual(where('echo "a {{x}} b"'), ['{{x}}@8:double quotes']);
    assert.deepEqual(where('echo "$(echo "{{x}}")"'), ['{{x}}@14:double quotes']);
    assert.deepEqual(where("echo $'{{x}}'"), ['{{x}}@7:single quotes']);
    assert.deepEqual(where('echo "{{ x }}" {{y}}'), ['{{ x }}@6:double quotes']);
  });

  it('refuses values in a here-document body and in a comment', () => {
    assert.deepEqual(where('cat <<EOF\nname {{x}}\nEOF\necho {{y}}'), ['{{x}}@15:a here-document']);
    assert.deepEqual(where("cat <<-'END'\n\tv={{x}}\n\tEND\n"), ['{{x}}@16:a here-document']);
    assert.deepEqual(where('echo a # was {{x}}\necho {{y}}'), ['{{x}}@13:a comment']);
  });
});
