import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { makeRedactor, redactJson } from '../../engine/redact/redact.js';
import { createReporter, type ReporterOptions } from '../../engine/report/reporters.js';
import { fakeClock, FORBIDDEN, fixtureEvents, fixturePlan, PEM, play, SECRET, SECRETS, SHORT_SECRET } from './report-fixture.js';
import { captureIo } from '../support/io.js';
import { scratchDirEach } from '../support/scratch.js';

describe('report: redaction', () => {
  describe('makeRedactor', () => {
    const r = makeRedactor(SECRETS);

    it('replaces exact values, short ones included', () => {
      assert.equal(r(`pw=${SECRET} and ${SECRET}`), 'pw=****** and ******');
      assert.equal(r(`token ${SHORT_SECRET}!`), 'token ******!');
    });

    it('replaces a multi-line secret whole, and each of its lines of 4+ chars on its own', () => {
      assert.equal(r(`key:\n${PEM}\n`), 'key:\n******\n');
      assert.equal(r('seen AAAAsecretline1 alone'), 'seen ****** alone');
      assert.equal(r('  BBBBsecretline2  '), '  ******  ');
      // Lines shorter than 4 chars of a multi-line secret are not searched for on their own.
      assert.equal(makeRedactor(['ab\ncdefg'])('ab cdefg'), 'ab ******');
    });

    it('catches the value shell-quoted and JSON-escaped', () => {
      const q = makeRedactor(['it\'s "x"']);
      assert.equal(q(`echo 'it'\\''s "x"'`), "echo '******'");
      assert.equal(q(JSON.stringify({ v: `it's "x"` })), '{"v":"******"}');
    });

    it('prefers the longest match and ignores empty or blank secrets', () => {
      assert.equal(makeRedactor(['abc', 'abcdef'])('abcdef abc'), '****** ******');
      assert.equal(makeRedactor(['', '  '])('a  b'), 'a  b');
      assert.equal(makeRedactor([])('anything'), 'anything');
    });

    it('treats regular-expression characters literally', () => {
      assert.equal(makeRedactor(['a.b*c$1'])('xa.b*c$1y axbbc'), 'x******y axbbc');
    });

    it('redacts nested JSON values and keys', () => {
      assert.deepEqual(redactJson({ a: [1, { b: `x${SECRET}y`, [SECRET]: true }], n: null }, r), { a: [1, { b: 'x******y', '******': true }], n: null });
    });
  });

  describe('nothing secret leaves through any mode or the journal', () => {
    let dir: string;
    scratchDirEach('runbook-redact-', (d) => (dir = d));

    const modes: [ReporterOptions['mode'], boolean, number][] = [
      ['text', false, 0],
      ['text', false, 1],
      ['text', false, 2],
      ['json', false, 2],
      ['auto', true, 2],
    ];
    for (const [mode, isTTY, verbose] of modes) {
      it(`${mode}${isTTY ? ' (terminal)' : ''} -v${verbose}`, async () => {
        const io = captureIo({ isTTY: isTTY });
        const runId = `r-${mode}-${verbose}`;
        const rep = await createReporter({ mode, io, verbose, secrets: SECRETS, journalDir: dir, runId, plan: fixturePlan(), now: fakeClock() });
        const events = fixtureEvents();
        // A secret in a failure message too.
        events.push(['host.failed', { host: 'etcd-1', stepId: '2.2@etcd-1', message: `auth failed for ${SECRET}\n${PEM}` }]);
        play(rep.emit, events);
        await rep.close();
        const printed = io.all();
        const journal = readFileSync(rep.journalPath, 'utf8');
        assert.ok(printed.includes('******'), 'secrets were there to redact');
        assert.ok(journal.includes('******'));
        for (const s of FORBIDDEN) {
          assert.ok(!printed.includes(s), `output contains ${s}`);
          assert.ok(!journal.includes(s), `journal contains ${s}`);
        }
      });
    }
  });
});
