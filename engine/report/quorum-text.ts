// The quorum timeline's lines under a task of the text plan (engine/compile/quorum.ts makes the marks).
import type { PlannedTask, QuorumState } from '../model/types.js';

function show(s: QuorumState): string {
  const learners = s.learners ? ` + ${s.learners} learner${s.learners > 1 ? 's' : ''}` : '';
  const tol = s.tolerance < 0 ? 'NO QUORUM' : `tolerates ${s.tolerance} more failure${s.tolerance === 1 ? '' : 's'}`;
  return `${s.up} of ${s.voting} voting running${learners} (quorum ${s.quorum}, ${tol})`;
}

/** `quorum: <change>: before → [while it restarts] → after`, one line per mark. */
export function quorumLines(t: PlannedTask): string[] {
  return (t.quorum ?? []).map((q) => {
    const during = q.during ? ` → while it restarts ${show(q.during)}` : '';
    return `    quorum${q.conditional ? ' (if it runs)' : ''}: ${q.change}: ${show(q.before)}${during} → ${show(q.after)}`;
  });
}
