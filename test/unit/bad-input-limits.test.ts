// Hostile input (README "Input limits"): files built to hang, exhaust or crash a YAML tool — alias
// bombs and cycles, deep nesting, huge or endless files, other encodings, too many tasks or hosts —
// and inventories whose SSH jumps loop or whose scheme contradicts its TLS settings. Each is fed to
// the real CLI in a child process (`runbook validate`, then `runbook apply --yes`) and must be
// refused with exit 2, file:line:col, the code and a hint; never a stack trace; nothing written.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { INPUT_LIMITS } from '../../engine/load/limits.js';
import { BIN, GOOD } from '../support/fixtures.js';
import { scratchDirEach } from '../support/scratch.js';

const GOOD_INV = readFileSync(join(GOOD, 'inventory.yml'), 'utf8');

interface Hostile {
  name: string;
  /** Which input is hostile. */
  role: 'playbook' | 'inventory' | 'extra-vars';
  /** Writes the hostile file into dir under `file`. */
  make: (path: string) => void;
  code: string;
  line: number;
  col: number;
  /** A substring of the message. */
  says: RegExp;
}

const PLAY = '- name: hostile\n  hosts: etcd\n  tasks:\n';

/** Billion laughs: each level's list holds ten aliases of the level before. */
function aliasBomb(): string {
  const lines = ['- name: bomb', '  hosts: etcd', '  vars:', '    a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
  for (let i = 1; i < 10; i++) lines.push(`    a${i}: &a${i} [${Array.from({ length: 10 }, () => `*a${i - 1}`).join(', ')}]`);
  return `${lines.join('\n')}\n  tasks: []\n`;
}

function blockNesting(levels: number): string {
  let s = `${PLAY}    - assert:\n        that: [true]\n      vars_like:\n`;
  for (let i = 0; i < levels; i++) s += `${' '.repeat(8 + 2 * i)}k:\n`;
  return `${s}${' '.repeat(8 + 2 * levels)}v\n`;
}

function inventoryWith(extra: string, hostSsh: Record<string, string> = {}): string {
  let text = GOOD_INV;
  for (const [host, ssh] of Object.entries(hostSsh)) text = text.replace(`  ${host}:\n    address:`, `  ${host}:\n    ssh: ${ssh}\n    address:`);
  return `${text}${extra}`;
}

const CASES: Hostile[] = [
  {
    name: 'an alias bomb (billion laughs)',
    role: 'playbook',
    make: (p) => writeFileSync(p, aliasBomb()),
    code: 'input-limit',
    line: 7,
    col: 49,
    says: /aliases stand for more than 10,000 nodes/,
  },
  {
    name: 'an alias that refers to its own parent (a cycle)',
    role: 'playbook',
    make: (p) => writeFileSync(p, '- &play\n  name: x\n  hosts: etcd\n  tasks: [*play]\n'),
    code: 'input-limit',
    line: 4,
    col: 11,
    says: /refers to a node that contains it/,
  },
  {
    name: `more than ${INPUT_LIMITS.aliases} aliases`,
    role: 'playbook',
    make: (p) => writeFileSync(p, `${PLAY}    - shell: &c echo\n${Array.from({ length: INPUT_LIMITS.aliases + 1 }, () => '    - shell: *c\n').join('')}`),
    code: 'input-limit',
    line: 5 + INPUT_LIMITS.aliases,
    col: 14,
    says: /more than 100 aliases/,
  },
  {
    name: 'an alias to an anchor that does not exist',
    role: 'playbook',
    make: (p) => writeFileSync(p, '- name: x\n  hosts: *nope\n  tasks: []\n'),
    code: 'yaml-syntax',
    line: 2,
    col: 10,
    says: /names no anchor/,
  },
  {
    name: '100,000 nested flow lists',
    role: 'playbook',
    make: (p) => writeFileSync(p, `${'['.repeat(100_000)}${']'.repeat(100_000)}\n`),
    code: 'input-limit',
    line: 1,
    col: 0,
    says: /nested more than 64 levels/,
  },
  {
    name: '80 nested block mappings',
    role: 'playbook',
    make: (p) => writeFileSync(p, blockNesting(80)),
    code: 'input-limit',
    line: 66,
    col: 127,
    says: /nested more than 64 levels/,
  },
  {
    name: 'UTF-16 (little-endian, with a byte-order mark)',
    role: 'playbook',
    make: (p) => writeFileSync(p, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`${PLAY}    - shell: echo\n`, 'utf16le')])),
    code: 'input-limit',
    line: 1,
    col: 1,
    says: /is UTF-16/,
  },
  {
    name: 'UTF-16 (big-endian, with a byte-order mark)',
    role: 'playbook',
    make: (p) => writeFileSync(p, Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(`${PLAY}    - shell: echo\n`, 'utf16le').swap16()])),
    code: 'input-limit',
    line: 1,
    col: 1,
    says: /is UTF-16/,
  },
  {
    name: 'UTF-16 without a byte-order mark',
    role: 'playbook',
    make: (p) => writeFileSync(p, Buffer.from(`${PLAY}    - shell: echo\n`, 'utf16le')),
    code: 'input-limit',
    line: 1,
    col: 2,
    says: /looks like UTF-16/,
  },
  {
    name: 'Latin-1 bytes (not UTF-8)',
    role: 'playbook',
    make: (p) => writeFileSync(p, Buffer.from(`${PLAY}    - shell: echo caf\xe9\n`, 'latin1')),
    code: 'input-limit',
    line: 4,
    col: 22,
    says: /not UTF-8/,
  },
  {
    name: 'a NUL byte in the middle',
    role: 'playbook',
    make: (p) => writeFileSync(p, `${PLAY}    - shell: echo a\0b\n`),
    code: 'input-limit',
    line: 4,
    col: 20,
    says: /NUL byte/,
  },
  {
    name: `a file over ${INPUT_LIMITS.fileBytes / 1024 / 1024} MiB`,
    role: 'playbook',
    make: (p) => {
      writeFileSync(p, PLAY);
      truncateSync(p, INPUT_LIMITS.fileBytes + 1); // sparse: nothing is written to disk
    },
    code: 'input-limit',
    line: 1,
    col: 1,
    says: /more than the limit of 8 MiB/,
  },
  { name: 'a directory', role: 'playbook', make: (p) => mkdirSync(p), code: 'input-limit', line: 1, col: 1, says: /not a regular file/ },
  {
    name: 'a FIFO (reading it would block forever)',
    role: 'playbook',
    make: (p) => assert.equal(spawnSync('mkfifo', [p]).status, 0),
    code: 'input-limit',
    line: 1,
    col: 1,
    says: /not a regular file/,
  },
  {
    name: `more than ${INPUT_LIMITS.tasks.toLocaleString('en')} tasks`,
    role: 'playbook',
    make: (p) => writeFileSync(p, `${PLAY}${'    - command: x\n'.repeat(INPUT_LIMITS.tasks + 1)}`),
    code: 'input-limit',
    line: 4 + INPUT_LIMITS.tasks,
    col: 7,
    says: /25,001 tasks, more than the limit of 25,000/,
  },
  {
    name: '-e @file with an alias bomb',
    role: 'extra-vars',
    make: (p) =>
      writeFileSync(
        p,
        aliasBomb()
          .replace(/^- name: bomb\n {2}hosts: etcd\n {2}vars:\n/, 'v:\n')
          .replace(/\n {2}tasks: \[\]\n$/, '\n'),
      ),
    code: 'input-limit',
    line: 5,
    col: 49,
    says: /aliases stand for/,
  },
  {
    name: `an inventory of more than ${INPUT_LIMITS.hosts.toLocaleString('en')} hosts`,
    role: 'inventory',
    make: (p) =>
      writeFileSync(
        p,
        `cluster: {name: big, etcd_version: "3.5.17"}\nhosts:\n${Array.from({ length: INPUT_LIMITS.hosts + 1 }, (_, i) => `  h${i}: {address: 10.${i >> 16}.${(i >> 8) & 255}.${i & 255}}\n`).join('')}groups:\n  etcd: {hosts: [h0]}\n`,
      ),
    code: 'input-limit',
    line: 3 + INPUT_LIMITS.hosts,
    col: 3,
    says: /10,001 hosts/,
  },
  {
    name: 'jump hosts that loop (etcd-1 → etcd-2 → etcd-1)',
    role: 'inventory',
    make: (p) => writeFileSync(p, inventoryWith('', { 'etcd-1': '{jump: etcd-2}', 'etcd-2': '{jump: etcd-1}' })),
    code: 'jump-loop',
    line: 13,
    col: 17,
    says: /etcd-1 → etcd-2 → etcd-1/,
  },
  {
    name: 'a default jump host that jumps through itself',
    role: 'inventory',
    make: (p) => writeFileSync(p, inventoryWith('ssh:\n  jump: etcd-3\n')),
    code: 'jump-loop',
    line: 23,
    col: 9,
    says: /etcd-3 → etcd-3/,
  },
  {
    name: 'scheme: http with a tls: block',
    role: 'inventory',
    make: (p) =>
      writeFileSync(p, GOOD_INV.replace('  scheme: http\n', '  scheme: http\n  tls: {ca: /etc/etcd/ca.crt, cert: /etc/etcd/c.crt, key: /etc/etcd/c.key}\n')),
    code: 'scheme-tls-conflict',
    line: 6,
    col: 11,
    says: /scheme: http with a tls: block/,
  },
  {
    name: 'an inventory in UTF-16',
    role: 'inventory',
    make: (p) => writeFileSync(p, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(GOOD_INV, 'utf16le')])),
    code: 'input-limit',
    line: 1,
    col: 1,
    says: /is UTF-16/,
  },
];

function run(cwd: string, args: string[]): { status: number | null; stdout: string; stderr: string; signal: NodeJS.Signals | null } {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', RUNBOOK_DEBUG: '' },
    timeout: 60_000,
    maxBuffer: 1 << 26,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, signal: r.signal };
}

describe('hostile input: refused with exit 2 and a position, never a stack trace (real CLI)', function () {
  this.timeout(180_000);
  let dir: string;
  scratchDirEach('runbook-hostile-', (d) => (dir = d));

  it('a UTF-8 byte-order mark is accepted, positions counted after it', () => {
    writeFileSync(join(dir, 'bom.yml'), `\uFEFF${PLAY}    - shelx: echo\n`);
    writeFileSync(join(dir, 'ok.yml'), `\uFEFF${readFileSync(join(GOOD, 'playbook.yml'), 'utf8')}`);
    const bad = run(dir, ['validate', 'bom.yml']);
    assert.equal(bad.status, 2, bad.stderr);
    assert.ok(bad.stderr.includes('bom.yml:4:7: error [unknown-module]'), bad.stderr);
    const ok = run(dir, ['validate', 'ok.yml']);
    assert.equal(ok.status, 0, ok.stderr);
  });

  it('[input-limit] a saved plan that is a FIFO (apply plan.json would block for ever)', () => {
    assert.equal(spawnSync('mkfifo', [join(dir, 'plan.json')]).status, 0);
    const r = run(dir, ['apply', 'plan.json', '--yes', '--journal-dir', 'runs']);
    const all = `${r.stdout}${r.stderr}`;
    assert.equal(r.signal, null, 'it hung');
    assert.equal(r.status, 2, all);
    assert.ok(all.includes('plan.json:1:1: error [input-limit]'), all);
    assert.match(all, /not a regular file/);
    assert.doesNotMatch(all, /\n {4}at /, 'no stack trace');
    assert.deepEqual(readdirSync(dir), ['plan.json'], 'nothing written');
  });

  for (const c of CASES) {
    it(`[input-limit] ${c.name}`, () => {
      copyFileSync(join(GOOD, 'playbook.yml'), join(dir, 'playbook.yml'));
      writeFileSync(join(dir, 'inventory.yml'), GOOD_INV);
      const file = { playbook: 'hostile.yml', inventory: 'hostile-inv.yml', 'extra-vars': 'vars.yml' }[c.role];
      c.make(join(dir, file));
      const pb = c.role === 'playbook' ? file : 'playbook.yml';
      const inv = c.role === 'inventory' ? file : 'inventory.yml';
      const ev = c.role === 'extra-vars' ? ['-e', `@${file}`] : [];
      const before = readdirSync(dir).sort();
      const where = c.col > 0 ? `${file}:${c.line}:${c.col}: error [${c.code}]` : `${file}:${c.line}:`;
      for (const args of [
        ['plan', pb, '-i', inv, ...ev],
        ['apply', pb, '-i', inv, ...ev, '--yes', '--journal-dir', 'runs'],
      ]) {
        const r = run(dir, args);
        const all = `${r.stdout}${r.stderr}`;
        assert.equal(r.signal, null, `runbook ${args[0]} was killed (${String(r.signal)}): it hung`);
        assert.equal(r.status, 2, `runbook ${args[0]}: ${all.slice(0, 3000)}`);
        assert.ok(all.includes(where), `runbook ${args[0]}: expected ${where} in:\n${all.slice(0, 3000)}`);
        assert.match(all, c.says);
        assert.match(all, /\n {2}hint: /, 'a hint');
        assert.doesNotMatch(all, /\n {4}at /, 'no stack trace');
        assert.deepEqual(readdirSync(dir).sort(), before, 'nothing written: no plan, journal or lock');
      }
    });
  }
});
