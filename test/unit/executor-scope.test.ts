// The executor's pure parts: run ids, the run-time scope, filling placeholders (running vs
// display), resolving `result`/set_fact values, and how derive arguments are passed.
import assert from 'node:assert/strict';
import { runAction, type ActionEnv } from '../../engine/execute/actions.js';
import { Redactor } from '../../engine/execute/redaction.js';
import { displayScope, fillRaw, fillShell, HostValues, newRunId, resolveValue, runInfoFromId, runStamp, RunValues } from '../../engine/execute/scope.js';
import type { Action, Json } from '../../engine/model/types.js';
import { parseEtcdJson } from '../../engine/modules/derive.js';
import { MissingRuntimeValueError } from '../../engine/template/runtime.js';
import { FakeTransport, mkPlay } from './executor-fakes.js';

function env(local: Record<string, Json>, scope: Record<string, unknown>, transport = new FakeTransport('h1')): ActionEnv {
  const task = mkPlay(1, ['h1'], [{ actions: [] }]).tasks[0];
  const step = task?.steps[0];
  if (!task || !step) throw new Error('fixture');
  return {
    task,
    step,
    scope: { ...scope, _: local },
    local,
    target: () => Promise.resolve(transport),
    controller: () => Promise.resolve(transport),
    signal: new AbortController().signal,
    redact: new Redactor(['hunter2']),
    maxOutputBytes: 1 << 20,
    output: () => undefined,
    confirm: () => Promise.resolve(true),
  };
}

describe('executor scope', () => {
  it('formats run stamps and ids in UTC, and reads the timestamp back from an id', () => {
    const d = new Date('2024-05-01T12:03:04.567Z');
    assert.equal(runStamp(d), '20240501T120304Z');
    assert.equal(newRunId(d, 'abc123'), '20240501T120304Z-abc123');
    assert.match(newRunId(d), /^20240501T120304Z-[0-9a-f]{6}$/);
    assert.deepEqual(runInfoFromId('20240501T120304Z-abc123'), { id: '20240501T120304Z-abc123', timestamp: '20240501T120304Z' });
    assert.throws(() => runInfoFromId('nope'), /not a run id/);
  });

  it('builds a host scope: own values, run, secrets, hostvars of every host, and _', () => {
    const values = new RunValues({ id: 'r', timestamp: 't' }, { pw: 'hunter2' });
    values.of('h1').register('a', { rc: 0, stdout: 'one' });
    values.of('h2').setFacts({ b: 2 });
    const s = values.scope('h1', { x: 1 });
    assert.deepEqual(s.a, { rc: 0, stdout: 'one' });
    assert.equal(s.b, undefined, "another host's facts are not in this host's scope");
    assert.deepEqual(s.run, { id: 'r', timestamp: 't' });
    assert.deepEqual(s.secrets, { pw: 'hunter2' });
    assert.deepEqual(s._, { x: 1 });
    assert.deepEqual((s.hostvars as Record<string, unknown>).h2, { b: 2 });
  });

  it('lets the later of register and set_fact win, and keeps both for the journal', () => {
    const v = new HostValues();
    v.register('x', 1);
    v.setFacts({ x: 2 });
    assert.equal(v.all.x, 2);
    assert.deepEqual(v.registered, { x: 1 });
    assert.deepEqual(v.facts, { x: 2 });
  });

  it('fills ⟨x⟩ shell-quoted and ⟨!x⟩ raw; fillRaw inserts both as is', () => {
    const scope = { a: { stdout: "it's here" } };
    assert.equal(fillShell('echo ⟨a.stdout⟩ ⟨!a.stdout⟩', scope), "echo 'it'\\''s here' it's here");
    assert.equal(fillRaw('path ⟨a.stdout⟩ ⟨!a.stdout⟩', scope), "path it's here it's here");
  });

  it('fills secrets for running and ****** for display', () => {
    const scope = new RunValues({ id: 'r', timestamp: 't' }, { pw: 'hunter2' }).scope('h1');
    assert.equal(fillShell('login ⟨secrets.pw⟩', scope), 'login hunter2');
    assert.equal(fillShell('login ⟨secrets.pw⟩', displayScope(scope)), "login '******'");
  });

  it('resolves one-token strings to values, mixed strings to text, recursively', () => {
    const list = parseEtcdJson('{"members":[{"ID":10276657743932975437,"name":"etcd-1"}]}');
    const scope = { _: { list: { json: list }, n: 3 }, reg: { stdout: 'x' } };
    const out = resolveValue({ id: '⟨!_.list.json.members.0.ID⟩', n: '⟨!_.n⟩', text: 'n=⟨!_.n⟩ ⟨reg.stdout⟩', list: ['⟨!reg⟩', 5, null], flag: true }, scope);
    assert.deepEqual(out, { id: '10276657743932975437', n: 3, text: 'n=3 x', list: [{ stdout: 'x' }, 5, null], flag: true });
    assert.throws(() => resolveValue('⟨!_.missing⟩', scope), MissingRuntimeValueError);
  });
});

describe('executor actions (with a fake transport)', () => {
  it('passes one-token derive args as values (IDs beyond 2^53 stay exact) and binds the result', async () => {
    const local: Record<string, Json> = {
      list: { json: parseEtcdJson('{"members":[{"ID":10276657743932975437,"name":"etcd-2","peerURLs":["http://b:2380"]}]}') },
    };
    const e = env(local, {});
    const o = await runAction({ kind: 'derive', fn: 'member_id', args: ['⟨!_.list.json⟩', 'etcd-2'], bind: 'id' }, 0, e);
    assert.equal(o.status, 'ok');
    assert.equal(local.id, BigInt('10276657743932975437').toString(16));
  });

  it('reports a DeriveError (a refusal) verbatim', async () => {
    const local: Record<string, Json> = { h: [{ endpoint: 'http://a:2379', health: true }] };
    const o = await runAction(
      { kind: 'derive', fn: 'quorum_preflight', args: ['⟨!_.h⟩', ['http://a:2379', 'http://b:2379', 'http://c:2379'], null, null] },
      0,
      env(local, {}),
    );
    assert.equal(o.status, 'failed');
    assert.equal(o.message, 'refused: only 1 of 3 members are healthy, quorum is 2; a membership change needs quorum (use restore-all or force-new-cluster)');
  });

  it('runs exec with the filled command, shows it with secrets masked, binds {rc, stdout, stderr, json}', async () => {
    const t = new FakeTransport('h1', { stdout: '{"id": 12345678901234567890}\n' });
    const local: Record<string, Json> = {};
    const e = env(local, { secrets: { pw: 'hunter2' } }, t);
    const o = await runAction({ kind: 'exec', cmd: 'tool --pw=⟨secrets.pw⟩', parse: 'json', bind: 'r' }, 0, e);
    assert.equal(o.status, 'ok');
    assert.equal(t.calls[0]?.cmd, 'tool --pw=hunter2');
    assert.equal(o.record.cmd, "tool --pw='******'");
    assert.deepEqual(local.r, { rc: 0, stdout: '{"id": 12345678901234567890}', stderr: '', json: { id: '12345678901234567890' } });
    assert.equal(o.changed, true, 'a non-probe command counts as a change');
  });

  it('treats a null exit code as unknown, never ok', async () => {
    const o = await runAction(exec0('true'), 0, env({}, {}, new FakeTransport('h1', { code: null, timedOut: true })));
    assert.equal(o.status, 'unknown');
    assert.match(o.message ?? '', /timed out.*unknown/);
  });

  it('honours okCodes and marks code failures so failed_when can override them', async () => {
    const ok = await runAction({ kind: 'exec', cmd: 'x', okCodes: [0, 1] }, 0, env({}, {}, new FakeTransport('h1', { code: 1 })));
    assert.equal(ok.status, 'ok');
    const bad = await runAction({ kind: 'exec', cmd: 'x' }, 0, env({}, {}, new FakeTransport('h1', { code: 2, stderr: 'boom\n' })));
    assert.equal(bad.status, 'failed');
    assert.equal(bad.failedByCode, true);
    assert.equal(bad.message, 'exit code 2: boom');
  });

  it('skips an action whose `when` is false over the step scope', async () => {
    const t = new FakeTransport('h1');
    const o = await runAction({ kind: 'exec', cmd: 'member add', when: 'not _.present' }, 0, env({ present: true }, {}, t));
    assert.equal(o.status, 'skipped');
    assert.equal(t.calls.length, 0);
  });

  it('fails a check with its message or the failed condition', async () => {
    const a = await runAction({ kind: 'check', that: ['_.n > 1', '_.n < 3'] }, 0, env({ n: 5 }, {}));
    assert.equal(a.message, 'assertion failed: _.n < 3');
    const b = await runAction({ kind: 'check', that: ['_.n < 3'], message: 'n is ⟨!_.n⟩' }, 0, env({ n: 5 }, {}));
    assert.equal(b.message, 'n is 5');
  });

  it('writes put content filled raw', async () => {
    const t = new FakeTransport('h1');
    const o = await runAction({ kind: 'put', dest: '/etc/x', mode: '0644', content: 'a=⟨!_.v⟩ b=⟨_.v⟩\n' }, 0, env({ v: "q'uote" }, {}, t));
    assert.equal(o.status, 'ok');
    assert.equal(t.files.get('/etc/x'), "a=q'uote b=q'uote\n");
  });

  it('set_fact resolves one-token values to values', async () => {
    const o = await runAction(
      { kind: 'set_fact', facts: { a: '⟨!r.json⟩', b: 'x-⟨!r.stdout⟩', c: 3 } },
      0,
      env({}, { r: { json: { k: [1] }, stdout: 'out' } }),
    );
    assert.deepEqual(o.facts, { a: { k: [1] }, b: 'x-out', c: 3 });
  });
});

function exec0(cmd: string): Action {
  return { kind: 'exec', cmd };
}
