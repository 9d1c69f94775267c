// Host patterns (Ansible-style) and serial batches.
import type { Inventory } from '../model/types.js';

export interface PatternResult {
  hosts: string[];
  unknown: string[];
}

/**
 * Resolve `etcd`, `etcd:kube`, `etcd:!etcd-3`, `etcd:&kube`, `all`, a host name, or `localhost`.
 * Order: the order of the first term's group (inventory order), then later terms' additions.
 */
export function resolvePattern(inv: Inventory, pattern: string): PatternResult {
  const unknown: string[] = [];
  const terms = pattern.split(/[:,]/).filter((t) => t !== '');
  let out: string[] = [];
  const seen = new Set<string>();
  const expand = (name: string): string[] => {
    if (name === 'localhost') return ['localhost'];
    if (name in inv.groups) return inv.groups[name] ?? [];
    if (name in inv.hosts) return [name];
    unknown.push(name);
    return [];
  };
  for (const term of terms) {
    if (term.startsWith('!')) {
      const drop = new Set(expand(term.slice(1)));
      out = out.filter((h) => !drop.has(h));
      drop.forEach((h) => seen.delete(h));
    } else if (term.startsWith('&')) {
      const keep = new Set(expand(term.slice(1)));
      out = out.filter((h) => keep.has(h));
      seen.forEach((h) => keep.has(h) || seen.delete(h));
    } else {
      for (const h of expand(term)) {
        if (seen.has(h)) continue;
        seen.add(h);
        out.push(h);
      }
    }
  }
  return { hosts: out, unknown };
}

/** Split hosts into batches for `serial` (counts, percentages, or a list of them; the last repeats). */
export function batches(hosts: string[], serial: (number | string)[]): string[][] {
  if (serial.length === 0 || hosts.length === 0) return hosts.length ? [hosts] : [];
  const sizes = serial.map((s) => (typeof s === 'number' ? s : Math.max(1, Math.floor((hosts.length * Number(s.replace('%', ''))) / 100))));
  const out: string[][] = [];
  let i = 0;
  let b = 0;
  while (i < hosts.length) {
    const size = Math.max(1, sizes[Math.min(b, sizes.length - 1)] ?? 1);
    out.push(hosts.slice(i, i + size));
    i += size;
    b++;
  }
  return out;
}
