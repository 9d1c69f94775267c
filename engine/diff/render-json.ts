// The diff for tools: the PlanDiff document (format runbook-diff/1) as stable JSON, sorted keys.
import { stableStringify } from '../report/stable-json.js';
import type { PlanDiff } from './model.js';

export function renderDiffJson(d: PlanDiff): string {
  return stableStringify(d);
}
