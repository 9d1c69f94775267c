// npm run reliability: runs the fault, security and bad-input test files with mocha's JSON
// reporter in a child process and prints what they prove:
//
//   faults injected / survived with nothing lost   tests titled "[fault] …"        total / passed
//   playbooks under live traffic, 0 writes lost   tests titled "[traffic] …"      total / passed (each proves
//                                                  every acknowledged write is on every member), and per
//                                                  playbook acknowledged / lost writes (RUNBOOK_TRAFFIC_REPORT)
//   the randomized fault campaign                  tests "[campaign] …" (test/e2e/campaign-seeds.json): runs, completed
//                                                  through the fault, recovered by resume / by rerun, refused with a
//                                                  message, failed, data lost (RUNBOOK_CAMPAIGN_REPORT)
//   bad inputs tried / clear errors                bad-input corpus cases (each must pass in every
//                                                  suite that runs it) + tests "[bad-input] …"
//   injection attempts / executed                  tests "[injection] …"           total / failed (must be 0)
//   injection coverage                             the "[injection] coverage: …" test's title (what was covered),
//                                                  with how many of its attempts ran a payload (must be 0)
//   secret leaks found                             tests "[secret-leak] …" failed  (must be 0; at least one
//                                                  reads ps on a host and on the controller during a run)
//   input limits tried / refused clearly           tests "[input-limit] …"        total / passed
//   validation linear in the number of tasks       tests "[linear] …"             all pass
//   concurrent --break-lock rounds, two winners    tests "[lock-race] …"          failed (must be 0)
//   snapshot verify: private socket, bounded output tests "[snapshot-verify] …"   all pass
//   TLS faults refused before any change          tests "[tls-fault] …"          total / passed (each: the file and
//                                                  the problem named, no later step started, nothing changed)
//
// Exit 1 when a count is off (or any test or hook of those files failed), 0 otherwise.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CampaignCounts } from '../lab/campaign.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const DIST = path.join(ROOT, 'dist');
const MIN_BAD_INPUTS = 40;

interface MochaTest {
  title: string;
  fullTitle: string;
  file?: string;
  err?: { message?: string };
}

interface MochaReport {
  stats: { tests: number; passes: number; failures: number; pending: number };
  tests: MochaTest[];
  passes: MochaTest[];
  failures: MochaTest[];
  pending: MochaTest[];
}

/** Compiled test files for sources matching `re` in `dir` (a source removed since the last build is not run). */
function compiled(dir: string, re: RegExp): string[] {
  const src = path.join(ROOT, dir);
  if (!existsSync(src)) return [];
  return readdirSync(src)
    .filter((f) => re.test(f))
    .sort()
    .map((f) => path.join(DIST, dir, f.replace(/\.ts$/, '.js')))
    .filter((f) => existsSync(f));
}

interface TrafficRow {
  playbook: string;
  acked: number;
  lost: number;
}

interface Measured {
  mocha: MochaReport;
  /** Rows the traffic tests recorded (one per playbook run under traffic). */
  traffic: TrafficRow[];
  /** The campaign test's reports, one per seed. */
  campaigns: { seed: number; counts: CampaignCounts }[];
}

function runMocha(files: string[]): Measured {
  const out = mkdtempSync(path.join(tmpdir(), 'runbook-reliability-'));
  const report = path.join(out, 'report.json');
  const trafficFile = path.join(out, 'traffic.jsonl');
  const campaignFile = path.join(out, 'campaign.json');
  try {
    const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';
    const r = spawnSync(
      npx,
      ['mocha', '--no-config', '--reporter', 'json', '--reporter-option', `output=${report}`, '--timeout', '300000', '--exit', ...files],
      {
        cwd: ROOT,
        stdio: ['ignore', 'inherit', 'inherit'],
        env: { ...process.env, NO_COLOR: '1', RUNBOOK_TRAFFIC_REPORT: trafficFile, RUNBOOK_CAMPAIGN_REPORT: campaignFile },
      },
    );
    if (!existsSync(report)) throw new Error(`mocha wrote no report (exit ${String(r.status)}${r.error ? `: ${r.error.message}` : ''})`);
    return {
      mocha: JSON.parse(readFileSync(report, 'utf8')) as MochaReport,
      traffic: existsSync(trafficFile)
        ? readFileSync(trafficFile, 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as TrafficRow)
        : [],
      campaigns: existsSync(campaignFile) ? (JSON.parse(readFileSync(campaignFile, 'utf8')) as Measured['campaigns']) : [],
    };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

function main(): number {
  const files = [
    ...compiled('test/e2e', /^fault-.*\.test\.ts$/),
    ...compiled('test/e2e', /^traffic-.*\.test\.ts$/),
    ...compiled('test/e2e', /^campaign.*\.test\.ts$/),
    ...compiled('test/e2e', /^security-.*\.test\.ts$/),
    ...compiled('test/unit', /^security-.*\.test\.ts$/),
    ...compiled('test/unit', /^bad-input.*\.test\.ts$/),
    ...compiled('test/unit', /^(validate-linear|lock-break-race)\.test\.ts$/),
  ];
  process.stderr.write(`reliability: running ${files.length} test files:\n${files.map((f) => `  ${path.relative(ROOT, f)}\n`).join('')}`);
  const measured = runMocha(files);
  const report = measured.mocha;
  const passed = new Set(report.passes.map((t) => t.fullTitle));
  const failed = new Set(report.failures.map((t) => t.fullTitle));
  const tests = report.tests;
  const tagged = (tag: string): MochaTest[] => tests.filter((t) => t.title.startsWith(`${tag} `));

  const faults = tagged('[fault]');
  const traffic = tagged('[traffic]');
  const trafficPassed = traffic.filter((t) => passed.has(t.fullTitle)).length;
  const faultsPassed = faults.filter((t) => passed.has(t.fullTitle)).length;
  // Per playbook: writes acknowledged during its runs under traffic, and the most any member lost.
  const perPlaybook = new Map<string, { acked: number; lost: number }>();
  for (const r of measured.traffic) {
    const p = perPlaybook.get(r.playbook) ?? { acked: 0, lost: 0 };
    perPlaybook.set(r.playbook, { acked: p.acked + r.acked, lost: Math.max(p.lost, r.lost) });
  }
  const campaignTests = tagged('[campaign]');
  const campaignPassed = campaignTests.filter((t) => passed.has(t.fullTitle)).length;
  const cc = measured.campaigns.reduce<CampaignCounts>(
    (a, c) => ({
      runs: a.runs + c.counts.runs,
      completed: a.completed + c.counts.completed,
      resumed: a.resumed + c.counts.resumed,
      rerun: a.rerun + c.counts.rerun,
      refused: a.refused + c.counts.refused,
      failed: a.failed + c.counts.failed,
      dataLost: a.dataLost + c.counts.dataLost,
      acked: a.acked + c.counts.acked,
    }),
    { runs: 0, completed: 0, resumed: 0, rerun: 0, refused: 0, failed: 0, dataLost: 0, acked: 0 },
  );
  const seeds = measured.campaigns.map((c) => c.seed).join(', ') || 'none ran';

  // The corpus: each case runs in several suites (in process, through the CLI); clear only if it passes in all.
  const caseNames = new Set((JSON.parse(readFileSync(path.join(ROOT, 'test/fixtures/bad/cases.json'), 'utf8')) as { name: string }[]).map((c) => c.name));
  const corpusTests = tests.filter((t) => (t.file ?? '').endsWith(`${path.sep}bad-input.test.js`) && caseNames.has(t.title));
  const corpusTried = new Set(corpusTests.map((t) => t.title));
  const corpusClear = [...corpusTried].filter((name) => corpusTests.filter((t) => t.title === name).every((t) => passed.has(t.fullTitle)));
  const runtimeBad = tagged('[bad-input]');
  const runtimeClear = runtimeBad.filter((t) => passed.has(t.fullTitle)).length;
  const badTried = corpusTried.size + runtimeBad.length;
  const badClear = corpusClear.length + runtimeClear;

  const injections = tagged('[injection]');
  const injectionsExecuted = injections.filter((t) => !passed.has(t.fullTitle)).length;
  // The coverage suite names what it covered in one test's title; its other [injection] tests are the attempts.
  const coverage = injections.find((t) => t.title.startsWith('[injection] coverage: '));
  const coverageAttempts = injections.filter((t) => t !== coverage && t.file !== undefined && t.file === coverage?.file);
  const coverageExecuted = coverageAttempts.filter((t) => !passed.has(t.fullTitle)).length;
  const secretTests = tagged('[secret-leak]');
  const leaks = secretTests.filter((t) => !passed.has(t.fullTitle)).length;
  // Process listings read while commands holding a secret run (issue 12 item 7).
  const psChecks = secretTests.filter((t) => /\bps on a host and on the controller\b/.test(t.title)).length;

  const limits = tagged('[input-limit]');
  const limitsClear = limits.filter((t) => passed.has(t.fullTitle)).length;
  const linear = tagged('[linear]');
  const linearOk = linear.length > 0 && linear.every((t) => passed.has(t.fullTitle));
  const lockRaces = tagged('[lock-race]');
  const lockRacesLost = lockRaces.filter((t) => !passed.has(t.fullTitle)).length;
  const verify = tagged('[snapshot-verify]');
  const verifyFailed = verify.filter((t) => !passed.has(t.fullTitle)).length;
  const tlsFaults = tagged('[tls-fault]');
  const tlsFaultsRefused = tlsFaults.filter((t) => passed.has(t.fullTitle)).length;

  // Anything else that failed (a hook, an untagged test) means the counts above cannot be trusted.
  const counted = new Set(
    [
      ...faults,
      ...traffic,
      ...campaignTests,
      ...corpusTests,
      ...runtimeBad,
      ...injections,
      ...secretTests,
      ...limits,
      ...linear,
      ...lockRaces,
      ...verify,
      ...tlsFaults,
    ].map((t) => t.fullTitle),
  );
  const otherFailures = report.failures.filter((t) => !counted.has(t.fullTitle));

  const rows: [string, string, boolean][] = [
    ['faults injected / survived, nothing lost', `${faults.length} / ${faultsPassed}`, faultsPassed === faults.length],
    [
      'playbooks under live traffic / with 0 acknowledged writes lost',
      `${traffic.length} / ${trafficPassed}`,
      traffic.length > 0 && trafficPassed === traffic.length,
    ],
    ...[...perPlaybook].map(([p, v]): [string, string, boolean] => [
      `  under traffic: ${p}, writes acknowledged / lost`,
      `${v.acked} / ${v.lost}`,
      v.lost === 0,
    ]),
    [
      `fault campaign (seeds ${seeds}): runs / failed (unhealthy, data lost or no clear message)`,
      `${cc.runs} / ${cc.failed}`,
      campaignTests.length > 0 && campaignPassed === campaignTests.length && cc.runs > 0 && cc.failed === 0,
    ],
    [
      '  completed through the fault / recovered by resume / by rerun / refused with a message',
      `${cc.completed} / ${cc.resumed} / ${cc.rerun} / ${cc.refused}`,
      cc.completed + cc.resumed + cc.rerun + cc.refused === cc.runs - cc.failed,
    ],
    [`  runs with data lost (of ${cc.acked} acknowledged writes)`, `${cc.dataLost}`, cc.runs > 0 && cc.dataLost === 0],
    [
      `bad inputs tried / clear errors (corpus ${corpusTried.size} + runtime ${runtimeBad.length})`,
      `${badTried} / ${badClear}`,
      badClear === badTried && badTried >= MIN_BAD_INPUTS && corpusTried.size === caseNames.size,
    ],
    ['injection attempts / executed', `${injections.length} / ${injectionsExecuted}`, injections.length > 0 && injectionsExecuted === 0],
    [
      `injection coverage: ${coverage ? coverage.title.slice('[injection] coverage: '.length) : 'no coverage suite ran'}; executed`,
      `${coverageExecuted}`,
      coverage !== undefined && passed.has(coverage.fullTitle) && coverageExecuted === 0,
    ],
    [`secret leaks found (in ${secretTests.length} checks, ${psChecks} of ps on a host and the controller)`, `${leaks}`, psChecks > 0 && leaks === 0],
    [
      'hostile inputs (limits) tried / refused with exit 2, position, no stack',
      `${limits.length} / ${limitsClear}`,
      limits.length > 0 && limitsClear === limits.length,
    ],
    [`validation work linear in tasks (${linear.length} checks)`, linearOk ? 'yes' : 'no', linearOk],
    [`concurrent --break-lock races with two winners (in ${lockRaces.length} tests)`, `${lockRacesLost}`, lockRaces.length > 0 && lockRacesLost === 0],
    [
      `snapshot verify: data only on a private socket, output bounded (checks failed of ${verify.length})`,
      `${verifyFailed}`,
      verify.length > 0 && verifyFailed === 0,
    ],
    [
      'TLS faults tried / refused before any change, file and problem named',
      `${tlsFaults.length} / ${tlsFaultsRefused}`,
      tlsFaults.length > 0 && tlsFaultsRefused === tlsFaults.length,
    ],
    ['other failures (hooks, untagged tests)', `${otherFailures.length}`, otherFailures.length === 0],
  ];
  const w = Math.max(...rows.map((r) => r[0].length));
  const cw = Math.max(9, ...rows.map((r) => r[1].length));
  const lines = [
    '',
    'Reliability summary',
    `  ${'measure'.padEnd(w)}  ${'count'.padStart(cw)}  verdict`,
    `  ${'-'.repeat(w)}  ${'-'.repeat(cw)}  -------`,
    ...rows.map(([label, value, ok]) => `  ${label.padEnd(w)}  ${value.padStart(cw)}  ${ok ? 'ok' : 'OFF'}`),
    `  (mocha: ${report.stats.tests} tests, ${report.stats.passes} passed, ${report.stats.failures} failed, ${report.stats.pending} pending; ${faults.length ? '' : 'no [fault] tests present; '}bad inputs needed: >= ${MIN_BAD_INPUTS})`,
  ];
  for (const t of report.failures) lines.push(`  FAILED ${t.fullTitle}: ${(t.err?.message ?? '').split('\n')[0] ?? ''}`);
  if (failed.size === 0 && report.stats.pending > 0) lines.push(`  note: ${report.stats.pending} pending test(s)`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return rows.every((r) => r[2]) && report.stats.pending === 0 ? 0 : 1;
}

try {
  process.exitCode = main();
} catch (e) {
  process.stderr.write(`reliability: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
}
