// executePlan as the e2e tests call it: one place for the options a test does not care about.
import { executePlan, type ExecuteOptions, type ExecuteResult } from '../../engine/execute/execute.js';
import type { Plan } from '../../engine/model/types.js';

/** Runs `plan` with test defaults (fixed run id, 10 forks, no check mode, no secrets, never aborted) and `o` over them. */
export function executeForTest(plan: Plan, o: Pick<ExecuteOptions, 'transports' | 'emit'> & Partial<ExecuteOptions>): Promise<ExecuteResult> {
  return executePlan(plan, {
    runId: '20240101T000000Z-test00',
    startedAt: new Date(),
    forks: 10,
    check: false,
    signal: new AbortController().signal,
    secrets: {},
    ...o,
  });
}
