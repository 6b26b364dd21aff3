/** "Did you mean …?" suggestions by edit distance, for misspelled refs, configs and keys. */

export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  const prev = new Array<number>(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length];
}

/** Up to `max` candidates close to `name`, closest first. */
export function closeMatches(name: string, candidates: Iterable<string>, max = 3): string[] {
  const limit = Math.max(2, Math.floor(name.length / 3));
  const lower = name.toLowerCase();
  const scored: [string, number][] = [];
  for (const c of candidates) {
    const d = editDistance(lower, c.toLowerCase());
    if (d <= limit || c.toLowerCase().includes(lower) || lower.includes(c.toLowerCase())) scored.push([c, d]);
  }
  return scored.sort((x, y) => x[1] - y[1] || x[0].localeCompare(y[0])).slice(0, max).map(([c]) => c);
}

export function didYouMean(name: string, candidates: Iterable<string>): string | undefined {
  const m = closeMatches(name, candidates);
  return m.length ? `Did you mean ${m.map((s) => `'${s}'`).join(' or ')}?` : undefined;
}
