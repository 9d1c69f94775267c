// JSON with sorted keys and a trailing newline: the same data always gives the same bytes.
export function stableStringify(value: unknown, indent = 2): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (v && typeof v === 'object') {
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
          .map((k) => [k, sort((v as Record<string, unknown>)[k])]),
      );
    }
    return v;
  };
  return `${JSON.stringify(sort(value), null, indent)}\n`;
}

const snake = (k: string): string => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/**
 * Keys runbook names (camelCase in TypeScript) in snake_case, as its YAML files spell them, for JSON
 * that tools read. Keys the operator chose are data and stay as they are: the values under a key in
 * `verbatim` (e.g. vars), and the keys of maps under a key in `names` (e.g. hosts by name).
 */
export function snakeKeys(v: unknown, opts: { verbatim?: string[]; names?: string[] } = {}, names = false): unknown {
  if (Array.isArray(v)) return v.map((x) => snakeKeys(x, opts));
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (x === undefined) continue;
    if (names) {
      out[k] = snakeKeys(x, opts);
      continue;
    }
    const key = snake(k);
    out[key] = opts.verbatim?.includes(key) ? x : snakeKeys(x, opts, opts.names?.includes(key) === true);
  }
  return out;
}
