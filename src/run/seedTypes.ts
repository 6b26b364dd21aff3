/**
 * Seed CSVs: read the header and infer each column's portable type from its values, as dbt does with agate
 * (integer, number, date, timestamp, boolean, else text; empty cells are NULL). One difference on purpose:
 * integers with leading zeros ("007", zip codes) stay text, because reading them as numbers loses data.
 * Every adapter loads seeds with these types, so a seed has the same schema on every warehouse.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import type { SeedColumnStats, SeedColumnType } from '../adapter.js';
import { KilnError } from '../errors.js';

const INTEGER = /^[-+]?(0|[1-9]\d*)$/;
const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?$/;
const BOOLEAN = /^(true|false)$/i;

/** A real calendar day (`2024-02-30` is not), by arithmetic: seeds have a million dates to check. */
function validDate(s: string): boolean {
  const y = Number(s.slice(0, 4));
  const m = Number(s.slice(5, 7));
  const d = Number(s.slice(8, 10));
  if (m < 1 || m > 12 || d < 1) return false;
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  const days = m === 2 ? (leap ? 29 : 28) : [4, 6, 9, 11].includes(m) ? 30 : 31;
  return d <= days;
}

const CHECKS: [SeedColumnType, (v: string) => boolean][] = [
  ['integer', (v) => INTEGER.test(v) && Math.abs(Number(v)) <= Number.MAX_SAFE_INTEGER],
  ['number', (v) => NUMBER.test(v) && !/^[-+]?0\d/.test(v)],
  ['date', (v) => DATE.test(v) && validDate(v)],
  // A column mixing plain dates and timestamps is a timestamp column (dbt's agate reads dates as datetimes).
  ['timestamp', (v) => (TIMESTAMP.test(v) || DATE.test(v)) && validDate(v)],
  ['boolean', (v) => BOOLEAN.test(v)],
];

/** The narrowest type that accepts every non-empty value; integer widens to number. */
export function inferColumnType(values: readonly string[]): SeedColumnType {
  return inferColumn(values, (r) => r).type;
}

/**
 * One pass over a column: the candidate types still possible narrow as values rule them out (a text column
 * is decided at its first word), then the stats the final type needs (byte lengths for text, scale for
 * numbers: Redshift sizes varchar and decimal columns from them).
 */
function inferColumn<R>(rows: readonly R[], cell: (row: R) => string | undefined): { type: SeedColumnType; stats: SeedColumnStats } {
  let candidates = CHECKS;
  let present = 0;
  for (const row of rows) {
    const v = cell(row);
    if (v === undefined || v === '') continue;
    present++;
    if (candidates.length) candidates = candidates.filter(([, check]) => check(v));
  }
  const type: SeedColumnType = present === 0 || candidates.length === 0 ? 'text' : candidates[0][0];
  let maxByteLength = 0;
  let maxScale = 0;
  for (const row of rows) {
    const v = cell(row);
    if (v === undefined || v === '') continue;
    // UTF-16 length bounds the byte length from below; only non-ASCII text needs counting.
    if (v.length > maxByteLength / 3) maxByteLength = Math.max(maxByteLength, /^[\x00-\x7f]*$/.test(v) ? v.length : Buffer.byteLength(v));
    if (type === 'number') {
      const dot = v.indexOf('.');
      if (dot >= 0) {
        const exp = v.search(/[eE]/);
        maxScale = Math.max(maxScale, (exp >= 0 ? exp : v.length) - dot - 1);
      }
    }
  }
  return { type, stats: { maxByteLength, maxScale } };
}

export interface SeedTable {
  columns: { name: string; type: SeedColumnType; stats: SeedColumnStats }[];
  rowCount: number;
}

/** Read a seed file's header and infer column types. Errors name the file and line. */
export function inspectSeed(absPath: string, displayPath: string, delimiter: string): SeedTable {
  let records: string[][];
  try {
    records = parse(readFileSync(absPath, 'utf8'), {
      delimiter,
      bom: true,
      relax_column_count: false,
      // Python's csv reader (dbt's) accepts a quote inside an unquoted field (`{ "a": 1 }`); so do we.
      relax_quotes: true,
      skip_empty_lines: true,
    }) as string[][];
  } catch (e) {
    const err = e as { lines?: number; message: string };
    throw new KilnError('config', `cannot read seed CSV: ${err.message.replace(/^Invalid Record Length: /, '')}`, {
      location: { file: displayPath, line: err.lines },
      hint: 'Every row needs as many fields as the header; quote values that contain the delimiter.',
    });
  }
  if (records.length === 0) {
    throw new KilnError('config', 'seed CSV is empty; it needs at least a header row', { location: { file: displayPath, line: 1 } });
  }
  const header = records[0].map((h) => h.trim());
  const seen = new Set<string>();
  header.forEach((h, i) => {
    if (h === '') {
      throw new KilnError('config', `seed column ${i + 1} has no name`, { location: { file: displayPath, line: 1 }, hint: 'Give every header cell a name.' });
    }
    if (seen.has(h.toLowerCase())) {
      throw new KilnError('config', `seed column '${h}' appears twice in the header`, { location: { file: displayPath, line: 1 } });
    }
    seen.add(h.toLowerCase());
  });
  const rows = records.slice(1);
  return {
    columns: header.map((name, i) => ({ name, ...inferColumn(rows, (r) => r[i]) })),
    rowCount: rows.length,
  };
}
