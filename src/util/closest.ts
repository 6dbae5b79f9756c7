/** Suggestions for a mistyped name: the candidates closest by edit distance (substring matches first). */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}

export function closest(name: string, candidates: readonly string[], k = 5): string[] {
  const lower = name.toLowerCase();
  return candidates
    .map((c) => ({ c, d: c.toLowerCase().includes(lower) ? -1 / (1 + c.length) : editDistance(lower, c.toLowerCase()) }))
    .sort((x, y) => x.d - y.d)
    .slice(0, k)
    .map((x) => x.c);
}
