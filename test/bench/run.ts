// npm run bench: every benchmark, each reported as ratios against a baseline measured in the same run.
// Not a test: nothing here asserts a time. `npm run bench -- fanout restore` runs only those sections.
import { benchCampaign } from './campaign-bench.js';
import { benchDistribute } from './distribute-bench.js';
import { benchFanout } from './fanout-bench.js';
import { benchPlan } from './plan-bench.js';
import { benchDiff } from './diff-bench.js';
import { benchRestoreAtScale } from './restore-at-scale-bench.js';
import { benchRestore } from './restore-bench.js';
import { benchS3 } from './s3-bench.js';
import { benchTraffic } from './traffic-bench.js';
import { benchValidate } from './validate-bench.js';

const sections: Record<string, () => string[] | Promise<string[]>> = {
  plan: () => benchPlan(),
  validate: () => benchValidate(),
  diff: () => benchDiff(),
  fanout: () => benchFanout(),
  restore: () => benchRestore(),
  distribute: () => benchDistribute(),
  traffic: () => benchTraffic(),
  s3: () => benchS3(),
  'restore-at-scale': () => benchRestoreAtScale(),
  campaign: () => benchCampaign(),
};
/** Sections too long for a plain `npm run bench`: they run only when named. */
const onlyWhenNamed = new Set(['restore-at-scale']);

const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !(w in sections));
if (unknown.length > 0) {
  process.stderr.write(`unknown section(s): ${unknown.join(', ')}; sections: ${Object.keys(sections).join(', ')}\n`);
  process.exit(2);
}
const t0 = performance.now();
for (const [name, s] of Object.entries(sections)) {
  if (wanted.length > 0 ? !wanted.includes(name) : onlyWhenNamed.has(name)) continue;
  const ts = performance.now();
  for (const line of await s()) process.stdout.write(`${line}\n`);
  process.stdout.write(`  (section ${name}: ${((performance.now() - ts) / 1000).toFixed(1)} s)\n\n`);
}
process.stdout.write(`bench done in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
