// One event as one JSON line: `type` first, then `at`, then every other field with keys sorted
// (recursively), so the same event always gives the same bytes. Used by --format json and the journal.

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return Object.fromEntries(
      Object.keys(o)
        .sort()
        .filter((k) => o[k] !== undefined)
        .map((k) => [k, sortKeys(o[k])]),
    );
  }
  return v;
}

export function eventLine(record: { type: string; at?: string } & object): string {
  const { type, at, ...rest } = record as { type: string; at?: string } & Record<string, unknown>;
  const head: Record<string, unknown> = at === undefined ? { type } : { type, at };
  return JSON.stringify({ ...head, ...(sortKeys(rest) as Record<string, unknown>) });
}
