// `npm run test:alone`: every test file in its own mocha process, one after another, so a file that
// only passes after another one (a lab, a backup, a lock left behind) shows up as a failure here.
// Usage: node dist/test/support/each-alone.js [substring …]  (only files whose path contains one).
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const REPO = path.resolve(DIST, '../..');

function testFiles(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((f) => {
      const p = path.join(dir, f);
      if (statSync(p).isDirectory()) return testFiles(p);
      return f.endsWith('.test.js') ? [p] : [];
    });
}

const filters = process.argv.slice(2);
const files = ['unit', 'golden', 'e2e'].flatMap((d) => testFiles(path.join(DIST, d))).filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
const failed: string[] = [];
for (const f of files) {
  const rel = path.relative(REPO, f);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['node_modules/mocha/bin/mocha.js', '--no-config', '--timeout', '300000', '--exit', '--reporter', 'dot', f], {
    cwd: REPO,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  if (r.status === 0) console.log(`ok    ${rel} (${secs} s)`);
  else {
    failed.push(rel);
    console.log(`FAIL  ${rel} (${secs} s, exit ${r.status ?? r.signal})\n${r.stdout}${r.stderr}`);
  }
}
console.log(`\n${files.length} file(s) run alone, ${failed.length} failed${failed.length ? ':\n  ' + failed.join('\n  ') : ''}`);
process.exitCode = failed.length === 0 ? 0 : 1;
