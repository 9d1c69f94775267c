// The filters of the condition language (`x | int`): one table, name → function. The parser
// accepts exactly these names; the evaluator applies them.

/** Truthiness as conditions see it: empty lists/maps/strings and "false"/"no"/"off"/"0" are false. */
export function truthy(v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 0;
  if (v && typeof v === 'object') return Object.keys(v).length > 0;
  if (typeof v === 'string') return v.length > 0 && !['false', 'no', 'off', '0'].includes(v.toLowerCase());
  return Boolean(v);
}

export const FILTERS: Readonly<Record<string, (v: unknown) => unknown>> = Object.freeze({
  int: (v: unknown) => {
    const n = typeof v === 'number' ? v : parseInt(String(v).trim(), 10);
    return Number.isNaN(n) ? 0 : Math.trunc(n);
  },
  float: (v: unknown) => {
    const n = typeof v === 'number' ? v : parseFloat(String(v).trim());
    return Number.isNaN(n) ? 0 : n;
  },
  string: (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v)),
  length: (v: unknown) => {
    if (typeof v === 'string' || Array.isArray(v)) return v.length;
    if (v && typeof v === 'object') return Object.keys(v).length;
    return 0;
  },
  trim: (v: unknown) => String(v).trim(),
  lower: (v: unknown) => String(v).toLowerCase(),
  upper: (v: unknown) => String(v).toUpperCase(),
  bool: (v: unknown) => truthy(v),
  from_json: (v: unknown) => {
    try {
      return JSON.parse(String(v)) as unknown;
    } catch {
      return null;
    }
  },
  first: (v: unknown): unknown => (Array.isArray(v) ? (v as unknown[])[0] : typeof v === 'string' ? v[0] : undefined),
  last: (v: unknown): unknown => (Array.isArray(v) ? (v as unknown[])[v.length - 1] : typeof v === 'string' ? v[v.length - 1] : undefined),
  keys: (v: unknown) => (v && typeof v === 'object' ? Object.keys(v).sort() : []),
});

export function isFilter(name: string): boolean {
  return Object.prototype.hasOwnProperty.call(FILTERS, name);
}
