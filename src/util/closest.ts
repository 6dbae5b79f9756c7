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

const tokens = (s: string) => s.toLowerCase().split(/[^a-z0-9]+/).filter(Boolean);

/**
 * Ranks candidates by how many of the query's name parts (split at '/', '.', '_'...) they contain,
 * then by containing the whole query, then by edit distance. Suits long exporter names such as
 * '/layer3/layer3.0/relu2/Relu_output_0' for a query '/layer3/relu2'.
 */
export function closest(name: string, candidates: readonly string[], k = 5): string[] {
  const q = tokens(name);
  const lower = name.toLowerCase();
  return candidates
    .map((c) => {
      const ct = new Set(tokens(c));
      const matched = q.filter((t) => ct.has(t)).length;
      return { c, matched, contains: c.toLowerCase().includes(lower) ? 1 : 0, d: editDistance(lower, c.toLowerCase()) };
    })
    .sort((x, y) => y.matched - x.matched || y.contains - x.contains || x.d - y.d)
    .slice(0, k)
    .map((x) => x.c);
}
