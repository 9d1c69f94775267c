// The bad-input corpus (test/fixtures/bad/cases.json): every broken playbook, inventory and -e value
// is refused with exit 2, a stable code at the exact file:line:col, and nothing run or written.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildPlan } from '../../engine/cli/inputs.js';
import { main } from '../../engine/cli/main.js';
import { sortDiagnostics } from '../../engine/report/diagnostics-text.js';
import { captureIo } from '../support/io.js';
import { BAD, BIN, badCases, CANARY_TOKEN, GOOD, type BadCase } from '../support/fixtures.js';
import { scratchDirEach } from '../support/scratch.js';

const CASES = badCases();

function filesOf(c: BadCase): { playbook: string; inventory: string } {
  return {
    playbook: c.playbook ? join(BAD, c.playbook) : join(GOOD, 'playbook.yml'),
    inventory: c.inventory ? join(BAD, c.inventory) : join(GOOD, 'inventory.yml'),
  };
}

/** The name a case's diagnostic is reported under when the CLI runs in the temp dir. */
function displayFile(c: BadCase): string {
  if (c.code === 'bad-extra-var' || (c.code === 'reserved-name' && c.extraVars)) return '-e';
  if (c.playbook) return c.playbook;
  if (c.inventory) return c.inventory;
  return 'playbook.yml';
}

function run(cwd: string, args: string[]): { status: number | null; output: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 30_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('bad input corpus', () => {
  it('has at least 20 cases, each naming a fixture that exists', () => {
    assert.ok(CASES.length >= 20, `only ${CASES.length} cases`);
    const names = new Set<string>();
    for (const c of CASES) {
      assert.ok(!names.has(c.name), `duplicate case name ${c.name}`);
      names.add(c.name);
      const f = filesOf(c);
      assert.ok(existsSync(f.playbook) && existsSync(f.inventory), c.name);
    }
    // Every fixture file is used by some case.
    const used = new Set(CASES.flatMap((c) => [c.playbook, c.inventory]).filter((x): x is string => x !== undefined));
    for (const f of readdirSync(BAD).filter((x) => x.endsWith('.yml'))) assert.ok(used.has(f), `${f} is in no case`);
  });

  it('the good fixtures plan cleanly (so each bad case fails for its own reason)', () => {
    const r = buildPlan({ playbook: join(GOOD, 'playbook.yml'), inventory: join(GOOD, 'inventory.yml') });
    assert.deepEqual(r.diagnostics, []);
    assert.ok(r.plan);
  });

  describe('in process (buildPlan): code, line and column', () => {
    for (const c of CASES) {
      it(c.name, () => {
        const f = filesOf(c);
        const r = buildPlan({ playbook: f.playbook, inventory: f.inventory, extraVars: c.extraVars ?? [] });
        assert.equal(r.plan, undefined, 'no plan for bad input');
        const ds = sortDiagnostics(r.diagnostics);
        const first = ds[0];
        assert.ok(first, 'at least one diagnostic');
        const shown = ds.map((d) => `${d.line}:${d.col} [${d.code}] ${d.message}`).join('\n');
        assert.deepEqual({ code: first.code, line: first.line, col: first.col }, { code: c.code, line: c.line, col: c.col }, shown);
        assert.equal(first.severity, 'error');
        if (c.hint !== undefined) assert.ok(first.hint?.includes(c.hint), `hint ${JSON.stringify(first.hint)} should contain ${JSON.stringify(c.hint)}`);
        for (const code of c.alsoCodes ?? [])
          assert.ok(
            ds.some((d) => d.code === code),
            `also expected [${code}]:\n${shown}`,
          );
        for (const d of ds) assert.ok(d.line >= 1 && d.col >= 1 && d.message.length > 0, `bad position or message: ${JSON.stringify(d)}`);
      });
    }
  });

  describe('through the CLI (runbook plan): exit 2, file:line:col [code], nothing run or written', function () {
    this.timeout(60_000);
    let dir: string;
    scratchDirEach('runbook-bad-', (d) => (dir = d));

    for (const c of CASES) {
      it(c.name, () => {
        const canary = `/tmp/runbook-canary-${randomBytes(6).toString('hex')}`;
        const f = filesOf(c);
        const pb = c.playbook ?? 'playbook.yml';
        const inv = c.inventory ?? 'inventory.yml';
        for (const [from, to] of [
          [f.playbook, pb],
          [f.inventory, inv],
        ] as const) {
          const text = readFileSync(from, 'utf8');
          if (text.includes(CANARY_TOKEN)) writeFileSync(join(dir, to), text.replaceAll(CANARY_TOKEN, canary.slice(-12)));
          else copyFileSync(from, join(dir, to));
        }
        const before = readdirSync(dir).sort();
        const r = run(dir, ['plan', pb, '-i', inv, ...(c.extraVars ?? []).flatMap((e) => ['-e', e])]);
        assert.equal(r.status, 2, r.output);
        assert.ok(
          r.output.includes(`${displayFile(c)}:${c.line}:${c.col}: error [${c.code}]`),
          `expected ${displayFile(c)}:${c.line}:${c.col} [${c.code}] in:\n${r.output}`,
        );
        assert.ok(!existsSync(canary), `${canary} was created: something ran`);
        assert.deepEqual(readdirSync(dir).sort(), before, 'no plan file, journal or .runbook dir is written');
      });
    }
  });

  describe('runbook validate reports every problem at once', () => {
    const expected = [
      'pb-three-errors.yml:5:7: error [unknown-module]',
      'pb-three-errors.yml:8:16: error [schema-range]',
      'pb-three-errors.yml:11:24: error [condition-syntax]',
    ];

    it('without an inventory (child process)', function () {
      this.timeout(30_000);
      const dir = mkdtempSync(join(tmpdir(), 'runbook-bad-'));
      try {
        copyFileSync(join(BAD, 'pb-three-errors.yml'), join(dir, 'pb-three-errors.yml'));
        const r = run(dir, ['validate', 'pb-three-errors.yml']);
        assert.equal(r.status, 2, r.output);
        for (const e of expected) assert.ok(r.output.includes(e), `missing ${e} in:\n${r.output}`);
        assert.match(r.output, /\b3 error\(s\)/);
        assert.deepEqual(readdirSync(dir), ['pb-three-errors.yml']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('with an inventory (in process, through main)', async () => {
      const io = captureIo();
      const pb = join(BAD, 'pb-three-errors.yml');
      const code = await main(['node', 'runbook', 'validate', pb, '-i', join(GOOD, 'inventory.yml')], io);
      const text = io.all();
      assert.equal(code, 2, text);
      for (const e of expected) assert.ok(text.includes(`${join(BAD, e)}`), `missing ${e} in:\n${text}`);
      assert.match(text, /\b3 error\(s\)/);
    });

    it('in JSON: three diagnostics with codes and positions', async () => {
      const io = captureIo();
      const code = await main(['node', 'runbook', 'validate', join(BAD, 'pb-three-errors.yml'), '--format', 'json'], io);
      assert.equal(code, 2);
      const r = JSON.parse(io.all()) as { ok: boolean; diagnostics: { code: string; line: number; col: number }[] };
      assert.equal(r.ok, false);
      assert.deepEqual(
        sortDiagnostics(r.diagnostics as Parameters<typeof sortDiagnostics>[0]).map((d) => [d.code, d.line, d.col]),
        [
          ['unknown-module', 5, 7],
          ['schema-range', 8, 16],
          ['condition-syntax', 11, 24],
        ],
      );
    });
  });
});
