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

function validDate(s: string): boolean {
  const d = new Date(`${s.slice(0, 10)}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s.slice(0, 10);
}

const CHECKS: [SeedColumnType, (v: string) => boolean][] = [
  ['integer', (v) => INTEGER.test(v) && Math.abs(Number(v)) <= Number.MAX_SAFE_INTEGER],
  ['number', (v) => NUMBER.test(v) && !/^[-+]?0\d/.test(v)],
  ['date', (v) => DATE.test(v) && validDate(v)],
  ['timestamp', (v) => TIMESTAMP.test(v) && validDate(v)],
  ['boolean', (v) => BOOLEAN.test(v)],
];

/** The narrowest type that accepts every non-empty value; integer widens to number. */
export function inferColumnType(values: readonly string[]): SeedColumnType {
  const present = values.filter((v) => v !== '');
  if (present.length === 0) return 'text';
  for (const [type, check] of CHECKS) if (present.every(check)) return type;
  return 'text';
}

export interface SeedTable {
  columns: { name: string; type: SeedColumnType; stats: SeedColumnStats }[];
  rowCount: number;
}

function statsOf(values: readonly string[]): SeedColumnStats {
  let maxByteLength = 0;
  let maxScale = 0;
  for (const v of values) {
    maxByteLength = Math.max(maxByteLength, Buffer.byteLength(v));
    const dot = v.indexOf('.');
    if (dot >= 0 && NUMBER.test(v)) maxScale = Math.max(maxScale, v.length - dot - 1 - (v.search(/[eE]/) >= 0 ? v.length - v.search(/[eE]/) : 0));
  }
  return { maxByteLength, maxScale };
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
    columns: header.map((name, i) => {
      const values = rows.map((r) => r[i]);
      return { name, type: inferColumnType(values), stats: statsOf(values) };
    }),
    rowCount: rows.length,
  };
}
