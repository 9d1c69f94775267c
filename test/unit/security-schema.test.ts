// Security: structured inventory fields (addresses, member names, URLs, paths, tokens, ssh settings)
// that carry shell metacharacters are refused by the schema before anything runs: `runbook apply`
// exits 2, names the field, contacts no host and creates no canary. The corpus cases of
// test/fixtures/bad with injected fields count here too.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../../engine/cli/main.js';
import { EXIT } from '../../engine/model/io.js';
import { captureIo } from '../support/io.js';
import { BAD, badCases, CANARY_TOKEN, GOOD } from '../support/fixtures.js';
import { scratchDirEach } from '../support/scratch.js';

/** Corpus inventories whose bad field holds a shell metacharacter, newline or leading dash. */
const CORPUS = badCases().filter(
  (c) => c.inventory !== undefined && c.code === 'schema-pattern' && /[$`;|&\n]|: ["']?-|\\n/.test(readFileSync(join(BAD, c.inventory), 'utf8')),
);

const GOOD_INV = readFileSync(join(GOOD, 'inventory.yml'), 'utf8');

/** More fields, each given a hostile value by editing the good inventory. */
const EDITS: { field: string; edit: (inv: string, canary: string) => string }[] = [
  { field: 'cluster.token with $(…)', edit: (t, c) => t.replace('  scheme: http', `  scheme: http\n  token: "a$(touch ${c})"`) },
  { field: 'cluster.data_dir with ;', edit: (t, c) => t.replace('  scheme: http', `  scheme: http\n  data_dir: "/var/lib/etcd; touch ${c}"`) },
  { field: 'cluster.backup_dir with |', edit: (t, c) => t.replace('  scheme: http', `  scheme: http\n  backup_dir: "/var/backups | touch ${c}"`) },
  {
    field: 'host etcd.peer_url with backticks',
    edit: (t, c) => t.replace('    address: 10.0.0.1', `    address: 10.0.0.1\n    etcd: {peer_url: "http://10.0.0.1:2380\`touch ${c}\`"}`),
  },
  { field: 'host etcd.name with &&', edit: (t, c) => t.replace('    address: 10.0.0.1', `    address: 10.0.0.1\n    etcd: {name: "etcd-1&&touch ${c}"}`) },
  { field: 'ssh.user with $(…)', edit: (t, c) => `${t}ssh:\n  user: "root$(touch ${c})"\n` },
  { field: 'ssh.identity_file with a newline', edit: (t, c) => `${t}ssh:\n  identity_file: "/root/.ssh/id\\ntouch ${c}"\n` },
  { field: 'host address with a leading dash', edit: (t) => t.replace('    address: 10.0.0.1', '    address: "-oProxyCommand=sh"') },
];

describe('security: structured inventory fields with metacharacters are refused by the schema', () => {
  let dir: string;
  scratchDirEach('runbook-sec-schema-', (d) => (dir = d));

  it('the corpus has injection cases in structured fields', () => assert.ok(CORPUS.length >= 5, `only ${CORPUS.length}`));

  async function refused(invText: string, canary: string): Promise<void> {
    const inv = join(dir, 'inv.yml');
    writeFileSync(inv, invText);
    const io = captureIo();
    const code = await main(['node', 'runbook', 'apply', join(GOOD, 'playbook.yml'), '-i', inv, '--yes', '--journal-dir', join(dir, 'runs')], io);
    assert.equal(code, EXIT.INVALID, io.all());
    assert.match(io.all(), /inv\.yml:\d+:\d+: error \[schema-pattern\]/);
    assert.equal(existsSync(canary), false, 'canary created: something ran');
    assert.equal(existsSync(join(dir, 'runs')), false, 'nothing started: no journal');
  }

  for (const c of CORPUS) {
    it(`[injection] corpus: ${c.name} → exit 2 through runbook apply, nothing run`, async () => {
      const canary = `/tmp/runbook-canary-${randomBytes(6).toString('hex')}`;
      await refused(readFileSync(join(BAD, c.inventory ?? ''), 'utf8').replaceAll(CANARY_TOKEN, canary.slice(-12)), canary);
    });
  }
  for (const e of EDITS) {
    it(`[injection] ${e.field} → exit 2 through runbook apply, nothing run`, async () => {
      const canary = `/tmp/runbook-canary-${randomBytes(6).toString('hex')}`;
      const text = e.edit(GOOD_INV, canary);
      assert.notEqual(text, GOOD_INV);
      await refused(text, canary);
    });
  }
});
