// npm run bench: every benchmark, each reported as ratios against a baseline measured in the same run.
// Not a test: nothing here asserts a time.
import { benchPlan } from './plan-bench.js';

const sections: (() => string[] | Promise<string[]>)[] = [() => benchPlan()];
for (const s of sections) {
  for (const line of await s()) process.stdout.write(`${line}\n`);
  process.stdout.write('\n');
}
