// Longest common subsequence over string keys, and the edit script it implies. Used for words in
// a command, lines of an action, actions of a step, and the order of tasks and plays. The inputs
// are small (tens of items); a common prefix and suffix are trimmed first.

export type Edit = { op: 'same'; a: number; b: number } | { op: 'change'; a: number[]; b: number[] };

/** Above this many cells the middle is treated as one change instead of running the table. */
const MAX_CELLS = 4_000_000;

/** Index pairs [i in a, j in b] of one longest common subsequence, in order. */
export function lcsPairs(a: readonly string[], b: readonly string[]): [number, number][] {
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const pairs: [number, number][] = [];
  for (let i = 0; i < start; i++) pairs.push([i, i]);
  const n = endA - start;
  const m = endB - start;
  if (n > 0 && m > 0 && n * m <= MAX_CELLS) {
    // table[i][j] = LCS length of a[start+i..endA) and b[start+j..endB)
    const w = m + 1;
    const table = new Uint32Array((n + 1) * w);
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        table[i * w + j] =
          a[start + i] === b[start + j] ? (table[(i + 1) * w + j + 1] ?? 0) + 1 : Math.max(table[(i + 1) * w + j] ?? 0, table[i * w + j + 1] ?? 0);
      }
    }
    let i = 0;
    let j = 0;
    while (i < n && j < m) {
      if (a[start + i] === b[start + j]) {
        pairs.push([start + i, start + j]);
        i++;
        j++;
      } else if ((table[(i + 1) * w + j] ?? 0) >= (table[i * w + j + 1] ?? 0)) i++;
      else j++;
    }
  }
  for (let k = 0; k < a.length - endA; k++) pairs.push([endA + k, endB + k]);
  return pairs;
}

/** The edit script: runs of equal items and change hunks (removed indexes of a, added indexes of b). */
export function edits(a: readonly string[], b: readonly string[]): Edit[] {
  const out: Edit[] = [];
  let i = 0;
  let j = 0;
  const flush = (toA: number, toB: number): void => {
    if (i < toA || j < toB) {
      const ra: number[] = [];
      const rb: number[] = [];
      for (; i < toA; i++) ra.push(i);
      for (; j < toB; j++) rb.push(j);
      out.push({ op: 'change', a: ra, b: rb });
    }
  };
  for (const [pa, pb] of lcsPairs(a, b)) {
    flush(pa, pb);
    out.push({ op: 'same', a: pa, b: pb });
    i = pa + 1;
    j = pb + 1;
  }
  flush(a.length, b.length);
  return out;
}
