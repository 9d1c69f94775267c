// Security e2e: shell injection through free inventory `vars` and `-e` values, on real lab hosts
// (2 hosts on 127.0.0.181-182) and on the controller (delegate_to: localhost). Every hostile value
// must arrive as inert data: the exact bytes end up in the files written by shell, command, copy
// and file tasks, and no canary file exists anywhere. `{{cluster.name}}` inside a value stays
// literal (templates are compiled only from playbook files).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runApply } from '../../engine/cli/apply.js';
import { EXIT, type Io } from '../../engine/model/io.js';
import { hostExec, labDown, labUp, type Lab } from '../lab/lab.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const DIR = path.join(REPO, '.runbook/lab-sec-inj');
const HOSTS = ['etcd-1', 'etcd-2'];
const TOKEN = randomBytes(6).toString('hex');
/** Created by any payload that manages to run: absolute (payloads with a /) or relative (file-name payloads). */
const CANARY = `/tmp/runbook-inj-canary-${TOKEN}`;
const REL_CANARY = `runbook-inj-canary-rel-${TOKEN}`;

/** Hostile values for command lines, contents and arguments. */
const PAYLOADS: { label: string; value: string }[] = [
  { label: '$(…)', value: `$(touch ${CANARY})` },
  { label: 'backticks', value: `\`touch ${CANARY}\`` },
  { label: ';', value: `x; touch ${CANARY}` },
  { label: '|', value: `x | touch ${CANARY}` },
  { label: '&&', value: `true && touch ${CANARY}` },
  { label: 'newline', value: `x\ntouch ${CANARY}\n` },
  { label: 'single quotes', value: `it's'; touch ${CANARY}; echo '` },
  { label: 'double quotes', value: `"; touch ${CANARY}; echo "` },
  { label: 'leading dashes', value: `--help -rf --output=${CANARY}` },
  { label: '{{cluster.name}}', value: '{{cluster.name}} {{{cluster.name}}} {{#each groups}}x{{/each}}' },
  { label: 'variables and globs', value: `$HOME \${PATH} * ~ $(printf x >${CANARY})` },
];

/** Hostile values that are valid file names (no /, no newline): for the file module's path. */
const NAME_PAYLOADS: { label: string; value: string }[] = [
  { label: '$(…)', value: `$(touch ${REL_CANARY})` },
  { label: 'backticks', value: `\`touch ${REL_CANARY}\`` },
  { label: ';', value: `x;touch ${REL_CANARY}` },
  { label: '|', value: `x|touch ${REL_CANARY}` },
  { label: '&&', value: `x&&touch ${REL_CANARY}` },
  // (A newline in a path is refused when the plan is built: security-injection-coverage.test.ts.)
  { label: 'single quotes', value: `'x';touch ${REL_CANARY};'` },
  { label: 'double quotes', value: `"x";touch ${REL_CANARY};"` },
  { label: 'leading dashes', value: '-rf' },
  { label: '{{cluster.name}}', value: '{{cluster.name}}' },
];

type Source = 'inventory' | '-e';
const SOURCES: Source[] = ['inventory', '-e'];
const varName = (src: Source, i: number, kind = 'p'): string => `${src === 'inventory' ? 'inv' : 'ex'}_${kind}${i}`;

function captureIo(): Io & { all: () => string } {
  let text = '';
  return { out: (s) => void (text += s), err: (s) => void (text += s), isTTY: false, all: () => text };
}

describe('security: shell injection through vars and -e (lab, 127.0.0.181-182)', function () {
  this.timeout(120_000);
  let lab: Lab;
  let tmp: string;
  let code: number;
  let output = '';

  before(async function () {
    this.timeout(300_000);
    lab = await labUp({ dir: DIR, hosts: 2, etcd: false, firstOctet: 181 });
    tmp = mkdtempSync(path.join(tmpdir(), 'runbook-inj-'));
    // Inventory: the lab's, plus free vars holding every payload (JSON is valid YAML flow style).
    const vars: Record<string, string> = {};
    PAYLOADS.forEach((p, i) => (vars[varName('inventory', i)] = p.value));
    NAME_PAYLOADS.forEach((p, i) => (vars[varName('inventory', i, 'n')] = p.value));
    const inv = path.join(lab.dir, 'inventory-inj.yml');
    writeFileSync(inv, `${readFileSync(lab.inventoryPath, 'utf8')}vars: ${JSON.stringify(vars)}\n`);
    const extra: string[] = [];
    PAYLOADS.forEach((p, i) => extra.push(`${varName('-e', i)}=${p.value}`));
    NAME_PAYLOADS.forEach((p, i) => extra.push(`${varName('-e', i, 'n')}=${p.value}`));

    const hostTasks: unknown[] = [{ file: { path: '/root/injf', state: 'directory' } }];
    const localTasks: unknown[] = [];
    for (const src of SOURCES) {
      PAYLOADS.forEach((_, i) => {
        const v = varName(src, i);
        hostTasks.push(
          { name: `shell ${v}`, shell: `printf '%s' {{${v}}} > /root/shell-${v}` },
          { name: `command ${v}`, command: { argv: ['sh', '-c', 'printf %s "$1" > "$2"', 'sh', `{{${v}}}`, `/root/command-${v}`] } },
          { name: `copy ${v}`, copy: { content: `{{${v}}}`, dest: `/root/copy-${v}` } },
        );
        localTasks.push(
          { name: `local shell ${v}`, shell: `printf '%s' {{${v}}} > ${tmp}/shell-${v}-{{inventory_hostname}}`, delegate_to: 'localhost' },
          { name: `local copy ${v}`, copy: { content: `{{${v}}}`, dest: `${tmp}/copy-${v}-{{inventory_hostname}}` }, delegate_to: 'localhost' },
        );
      });
      NAME_PAYLOADS.forEach((_, i) =>
        hostTasks.push({ name: `file ${varName(src, i, 'n')}`, file: { path: `/root/injf/{{${varName(src, i, 'n')}}}`, state: 'touch' } }),
      );
    }
    const pb = path.join(tmp, 'inject.yml');
    writeFileSync(pb, JSON.stringify([{ name: 'inject', hosts: 'etcd', tasks: [...hostTasks, ...localTasks] }]));
    const io = captureIo();
    code = await runApply(pb, { inventory: inv, extraVars: extra, journalDir: path.join(tmp, 'runs'), output: 'text', forks: 4 }, io);
    output = io.all();
  });

  after(async function () {
    this.timeout(60_000);
    await labDown(DIR);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    rmSync(path.join(REPO, REL_CANARY), { force: true });
  });

  it('[injection] the run with every hostile value succeeds (values are data, not syntax errors)', () => {
    assert.equal(code, EXIT.OK, output);
  });

  for (const src of SOURCES) {
    PAYLOADS.forEach((p, i) => {
      const v = varName(src, i);
      for (const sink of ['shell', 'command', 'copy'] as const) {
        it(`[injection] ${src} value with ${p.label} through ${sink} on the hosts arrives as the exact bytes`, async () => {
          for (const h of HOSTS) {
            const r = await hostExec(lab, h, `base64 -w0 /root/${sink}-${v}`, { timeoutMs: 10_000 });
            assert.equal(r.code, 0, `${h}: /root/${sink}-${v} missing: ${r.stderr}`);
            assert.equal(Buffer.from(r.stdout, 'base64').toString('utf8'), p.value, `${h}: ${sink} ${v}`);
          }
        });
      }
      for (const sink of ['shell', 'copy'] as const) {
        it(`[injection] ${src} value with ${p.label} through ${sink} on localhost (delegate_to) arrives as the exact bytes`, () => {
          for (const h of HOSTS) assert.equal(readFileSync(path.join(tmp, `${sink}-${v}-${h}`), 'utf8'), p.value);
        });
      }
    });
    it(`[injection] ${src} values as file names through the file module: exactly those names, nothing run`, async () => {
      for (const h of HOSTS) {
        const r = await hostExec(lab, h, 'cd /root/injf && for f in * .[!.]*; do [ -e "$f" ] && printf \'%s\\0\' "$f"; done; true', { timeoutMs: 10_000 });
        const names = new Set(r.stdout.split('\0').filter(Boolean));
        for (const p of NAME_PAYLOADS) assert.ok(names.has(p.value), `${h}: no file named ${JSON.stringify(p.value)} in ${JSON.stringify([...names])}`);
      }
    });
  }

  it('[injection] no canary file exists on any host or on the controller', async () => {
    for (const h of HOSTS) {
      const r = await hostExec(lab, h, `ls -d ${CANARY} /root/${REL_CANARY} /${REL_CANARY} /tmp/${REL_CANARY} /root/injf/${REL_CANARY} 2>/dev/null; true`, {
        timeoutMs: 10_000,
      });
      assert.equal(r.stdout.trim(), '', `${h}: canary found`);
    }
    for (const f of [CANARY, path.join(REPO, REL_CANARY), path.join(tmp, REL_CANARY), path.join(process.cwd(), REL_CANARY)])
      assert.equal(existsSync(f), false, `controller: ${f}`);
  });
});
