/** A plain text table (kiln show, failing test rows, unit test diffs): header, rule, rows; long values cut. */

/** A cell as text: null, '' for the empty string (so it differs from null), dates without a zero time. */
function cell(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (v instanceof Date) return v.toISOString().replace('T', ' ').replace(/\.000Z$/, '').replace(/Z$/, '').replace(/ 00:00:00$/, '');
  if (typeof v === 'object') return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x));
  const s = String(v);
  if (s === '') return "''";
  return s.length > 40 ? `${s.slice(0, 39)}…` : s;
}

export interface TableOptions {
  /** Put before every line (tables nested under a message). */
  indent?: string;
  /** Show at most this many rows, then say how many more there are. */
  maxRows?: number;
}

export function formatTable(columns: readonly string[], rows: readonly Record<string, unknown>[], opts: TableOptions = {}): string {
  const indent = opts.indent ?? '';
  const shown = opts.maxRows === undefined ? rows : rows.slice(0, opts.maxRows);
  const cells = shown.map((r) => columns.map((c) => cell(r[c])));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i].length)));
  const line = (vals: readonly string[]) => `${indent}| ${vals.map((v, i) => v.padEnd(widths[i])).join(' | ')} |`;
  const out = [line(columns), `${indent}|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.map(line)];
  if (rows.length > shown.length) out.push(`${indent}… and ${rows.length - shown.length} more`);
  return out.join('\n');
}
