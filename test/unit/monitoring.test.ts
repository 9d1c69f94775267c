// monitoring/: the alert rules pass `promtool check rules`, their unit tests pass `promtool test
// rules`, every alert (at each severity) has a test where it fires, the tests bite (a weakened rule
// fails them), and every Grafana panel query is valid PromQL. promtool comes from Debian's
// `prometheus` package (.ci/run installs it); a missing promtool fails these tests.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, copyFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const MON = join(ROOT, 'monitoring');
const RULES = join(MON, 'etcd-alerts.yml');
const TESTS = join(MON, 'tests');
const DASHBOARD = join(MON, 'grafana', 'etcd-dashboard.json');

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  labels?: Record<string, string>;
}
interface RuleFile {
  groups: { name: string; rules: Rule[] }[];
}
interface PromtoolTestFile {
  tests: { alert_rule_test?: { alertname: string; exp_alerts?: { exp_labels?: Record<string, string> }[] }[] }[];
}

function promtool(...args: string[]): { code: number | null; out: string } {
  const r = spawnSync('promtool', args, { encoding: 'utf8', cwd: ROOT });
  if (r.error) throw new Error(`promtool could not run (${r.error.message}): install Debian's prometheus package`);
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

const testFiles = (dir = TESTS): string[] =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.test.yml'))
    .map((f) => join(dir, f));

/** A copy of monitoring/ in a temp dir with `edit` applied to the rules file. */
function mutatedCopy(edit: (rules: string) => string): string {
  const dir = mkdtempSync(join(tmpdir(), 'runbook-mon-'));
  mkdirSync(join(dir, 'tests'));
  for (const f of testFiles()) copyFileSync(f, join(dir, 'tests', f.slice(f.lastIndexOf('/') + 1)));
  const before = readFileSync(RULES, 'utf8');
  const after = edit(before);
  assert.notEqual(after, before, 'the mutation changed nothing');
  writeFileSync(join(dir, 'etcd-alerts.yml'), after);
  return dir;
}

describe('monitoring: alert rules and dashboard (promtool)', function () {
  this.timeout(60_000);

  it('promtool check rules accepts monitoring/etcd-alerts.yml', () => {
    const r = promtool('check', 'rules', RULES);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /SUCCESS: \d+ rules found/);
  });

  it('promtool test rules: every unit test in monitoring/tests passes', () => {
    const files = testFiles();
    assert.ok(files.length > 0, 'no promtool tests found');
    const r = promtool('test', 'rules', ...files);
    assert.equal(r.code, 0, r.out);
  });

  it('every alert, at each of its severities, has a test where it fires', () => {
    const rules = (parse(readFileSync(RULES, 'utf8')) as RuleFile).groups.flatMap((g) => g.rules).filter((r) => r.alert);
    const fired = new Set<string>();
    for (const f of testFiles()) {
      for (const t of (parse(readFileSync(f, 'utf8')) as PromtoolTestFile).tests) {
        for (const a of t.alert_rule_test ?? []) for (const e of a.exp_alerts ?? []) fired.add(`${a.alertname}/${e.exp_labels?.severity ?? '?'}`);
      }
    }
    const missing = rules.map((r) => `${r.alert}/${r.labels?.severity ?? '?'}`).filter((k) => !fired.has(k));
    assert.deepEqual(missing, []);
    for (const name of ['EtcdBackupTooOld', 'EtcdBackupFailed', 'etcdNoLeader', 'etcdInsufficientMembers', 'etcdDatabaseHighFragmentationRatio']) {
      assert.ok(
        rules.some((r) => r.alert === name),
        `${name} is shipped`,
      );
    }
  });

  it('the tests bite: a weakened rule fails them (no leader never alerting; a backup allowed 30 h)', () => {
    for (const [what, edit] of [
      ['etcdNoLeader', (s: string) => s.replace('etcd_server_has_leader{job=~".*etcd.*"} == 0', 'etcd_server_has_leader{job=~".*etcd.*"} == 2')],
      ['EtcdBackupTooOld', (s: string) => s.replace('> 3 * 3600', '> 30 * 3600')],
    ] as const) {
      const dir = mutatedCopy(edit);
      try {
        const r = promtool('test', 'rules', ...testFiles(join(dir, 'tests')));
        assert.notEqual(r.code, 0, `weakened ${what} still passed:\n${r.out}`);
        assert.match(r.out, new RegExp(`alertname: ${what}`));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  });

  it('the Grafana dashboard: unique panel ids, every query valid PromQL (checked by promtool as recording rules)', () => {
    const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
      title: string;
      templating: { list: { name: string }[] };
      panels: { id: number; title: string; targets: { expr: string }[] }[];
    };
    const ids = dash.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
    const titles = dash.panels.map((p) => p.title).join(' | ');
    for (const want of [/leader/i, /DB size/, /WAL fsync/, /Peer RTT/, /Backup age/]) assert.match(titles, want);
    const vars = new Set(dash.templating.list.map((v) => v.name));
    const exprs = dash.panels.flatMap((p) => p.targets.map((t) => t.expr));
    for (const e of exprs)
      for (const [, v] of e.matchAll(/\$(\w+)/g)) assert.ok(v === '__rate_interval' || vars.has(v as string), `$${v} is a dashboard variable`);
    const concrete = exprs.map((e) => e.replaceAll('$__rate_interval', '5m').replaceAll('$backup_cluster', 'prod').replaceAll('$cluster', 'etcd'));
    const dir = mkdtempSync(join(tmpdir(), 'runbook-dash-'));
    try {
      const file = join(dir, 'dashboard-queries.yml');
      const rules = { groups: [{ name: 'dashboard', rules: concrete.map((expr, i) => ({ record: `dashboard:query_${i}`, expr })) }] };
      writeFileSync(file, JSON.stringify(rules));
      const r = promtool('check', 'rules', file);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, new RegExp(`SUCCESS: ${concrete.length} rules found`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
