// The diff for tools: the PlanDiff document (format runbook-diff, version 2) as stable JSON, sorted
// keys, in snake_case like every JSON runbook prints for tools (version 1 had camelCase keys).
import { snakeKeys, stableStringify } from '../report/stable-json.js';
import type { PlanDiff } from './model.js';

export function renderDiffJson(d: PlanDiff): string {
  return stableStringify(snakeKeys(d));
}
