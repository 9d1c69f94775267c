// One seeded pseudo-random generator for tests, the lab and the benchmarks: what they draw is
// random-looking but the same on every run with the same seed.

/** mulberry32: a small seeded generator returning numbers in [0, 1); the same seed always gives the same numbers. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
