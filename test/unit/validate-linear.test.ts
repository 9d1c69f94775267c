// Validation is linear in the number of tasks: the position lookups (every task, condition and
// template argument is placed at its file:line:col) do work proportional to the input. Counted,
// not timed: timing belongs in `npm run bench` (section validate). 8,000 tasks once took a minute
// because each task was found again by scanning all tasks, and each key by scanning its mapping.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../engine/cli/main.js';
import { positionWork } from '../../engine/load/source.js';
import { generatePlaybook } from '../bench/validate-bench.js';
import { captureIo } from '../support/io.js';

describe('validation work grows linearly with the number of tasks', () => {
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'runbook-linear-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function work(tasks: number, broken: boolean): Promise<number> {
    const file = join(dir, `pb-${tasks}-${String(broken)}.yml`);
    writeFileSync(file, generatePlaybook(tasks, broken));
    const io = captureIo();
    const before = positionWork.steps;
    const code = await main(['node', 'runbook', 'validate', file], io);
    const text = io.all();
    assert.equal(code, broken ? 2 : 0, text.slice(0, 2000));
    if (broken) assert.equal(text.match(/error \[unknown-module\]/g)?.length, tasks, 'one diagnostic per task');
    return positionWork.steps - before;
  }

  for (const broken of [false, true]) {
    it(`[linear] ${broken ? 'an error in every task' : 'valid tasks'}: 4× the tasks, about 4× the position lookups`, async () => {
      const small = await work(500, broken);
      const big = await work(2000, broken);
      assert.ok(small > 500, `lookups are counted (${small})`);
      // Quadratic lookups would make this ratio about 16.
      const ratio = big / small;
      assert.ok(ratio > 3.5 && ratio < 4.5, `500 tasks: ${small} steps, 2,000 tasks: ${big} steps (ratio ${ratio.toFixed(2)})`);
    });
  }
});
