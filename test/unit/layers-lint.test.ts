// The layer rule (eslint/layers.js) that `npm run lint` applies to engine/: an import from a layer
// that is not below, and a re-export of another folder's names, are errors; imports downward and
// within a folder are not.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Linter, type Rule } from 'eslint';
import tseslint from 'typescript-eslint';
import { PACKAGE_ROOT } from '../../engine/package/root.js';

const { layersRule } = (await import(pathToFileURL(path.join(PACKAGE_ROOT, 'eslint/layers.js')).href)) as { layersRule: Rule.RuleModule };

function problems(file: string, code: string): string[] {
  const linter = new Linter({ configType: 'flat' });
  const messages = linter.verify(
    code,
    [
      {
        files: ['**/*.ts'],
        languageOptions: { parser: tseslint.parser },
        plugins: { runbook: { rules: { layers: layersRule } } },
        rules: { 'runbook/layers': 'error' },
      },
    ],
    { filename: path.join(PACKAGE_ROOT, file) },
  );
  return messages.map((m) => m.message);
}

describe('lint: the layer order of engine/', () => {
  it('refuses an import from a higher layer (report → cli, load → validate)', () => {
    assert.match(problems('engine/report/x.ts', "import type { Io } from '../cli/output.js';").join('\n'), /engine\/report may not import from engine\/cli/);
    assert.match(
      problems('engine/load/x.ts', "import { schemaDiagnostics } from '../validate/schema.js';").join('\n'),
      /engine\/load may not import from engine\/validate/,
    );
  });

  it('refuses an import between two helpers of the same layer and a dynamic import upward', () => {
    assert.equal(problems('engine/redact/x.ts', "import { shq } from '../shell/quote.js';").length, 1);
    assert.equal(problems('engine/model/x.ts', "export async function f() { return import('../execute/execute.js'); }").length, 1);
  });

  it('allows imports from lower layers and from its own folder', () => {
    assert.deepEqual(problems('engine/cli/x.ts', "import { EXIT } from '../model/io.js';\nimport { processIo } from './output.js';"), []);
    assert.deepEqual(problems('engine/transports/ssh/x.ts', "import { shq } from '../../shell/quote.js';\nimport { now } from '../common.js';"), []);
  });

  it("refuses re-exports of another folder's names, but not of its own", () => {
    assert.match(
      problems('engine/compile/x.ts', "import { controllerPath } from '../load/paths.js';\nexport { controllerPath };").join('\n'),
      /comes from engine\/load/,
    );
    assert.match(problems('engine/diff/x.ts', "export { stepLines } from '../report/plan-text.js';").join('\n'), /no re-exports/);
    assert.match(problems('engine/diff/x.ts', "export * from './steps.js';").join('\n'), /no re-exports/);
    assert.deepEqual(problems('engine/cli/x.ts', "import { DEFAULT_FORKS } from './output.js';\nexport { DEFAULT_FORKS };"), []);
  });

  it('leaves files outside engine/ alone', () => {
    assert.deepEqual(problems('test/unit/x.ts', "import { main } from '../../engine/cli/main.js';"), []);
  });
});
