/**
 * Seed loading on Snowflake: the CSV is read with Kiln's CSV reader and inserted with array binds — one
 * `insert into … values (?, …)` per batch, the batch's rows bound as arrays — so values never pass through
 * SQL text. Batches stay below snowflake-sdk's array-binding threshold (above it the driver would stage the
 * binds through PUT), at most 16,384 rows each. Empty cells bind as NULL, as Kiln's type inference assumes.
 *
 * @example
 * await loadSnowflakeSeed(conn, names, rel, { path: '/p/seeds/orders.csv', delimiter: ',', columns, quoteColumns: false, rowCount: 3 })
 */
import { readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import type { AdapterResponse, Connection, RelationRef, SeedLoad } from '../../src/adapter.js';
import { SnowflakeSession } from './connection.js';
import { quoteSnowflakeIdentifier, type SnowflakeNames } from './ddl.js';

/** snowflake-sdk stages binds through PUT from 100,000 values; stay below. */
const MAX_VALUES_PER_BATCH = 60_000;
const MAX_ROWS_PER_BATCH = 16_384;

/** A CSV cell as a bind value for its column's type. */
function bindValue(raw: string, type: SeedLoad['columns'][number]['type']): unknown {
  if (raw === '') return null;
  switch (type) {
    case 'integer': case 'number': {
      const n = Number(raw);
      return Number.isFinite(n) && (type === 'number' || Number.isSafeInteger(n)) ? n : raw;
    }
    case 'boolean': return /^(true|t|yes|y|1)$/i.test(raw.trim());
    default: return raw;
  }
}

export function seedBatches(seed: SeedLoad): unknown[][][] {
  const text = readFileSync(seed.path, 'utf8').replace(/^\uFEFF/, '');
  const records = parse(text, { delimiter: seed.delimiter, relax_column_count: false, skip_empty_lines: true, from_line: 2 }) as string[][];
  const perBatch = Math.max(1, Math.min(MAX_ROWS_PER_BATCH, Math.floor(MAX_VALUES_PER_BATCH / Math.max(1, seed.columns.length))));
  const batches: unknown[][][] = [];
  for (let i = 0; i < records.length; i += perBatch) {
    batches.push(records.slice(i, i + perBatch).map((r) => seed.columns.map((c, j) => bindValue(r[j] ?? '', c.type))));
  }
  return batches;
}

export async function loadSnowflakeSeed(conn: Connection, names: SnowflakeNames, rel: RelationRef, seed: SeedLoad): Promise<AdapterResponse> {
  if (!(conn instanceof SnowflakeSession)) throw new Error('loadSeed needs a connection of the snowflake adapter');
  const columns = seed.columns.map((c) => (seed.quoteColumns ? quoteSnowflakeIdentifier(c.name) : names.part(c.name, false))).join(', ');
  const sql = `insert into ${names.render(rel)} (${columns}) values (${seed.columns.map(() => '?').join(', ')})`;
  let rows = 0;
  let queryId: string | undefined;
  for (const batch of seedBatches(seed)) {
    const res = await conn.run(sql, sql, 1, { binds: batch });
    rows += res.rowsAffected ?? batch.length;
    queryId = res.queryId;
  }
  return { message: `SUCCESS ${rows}`, code: 'SUCCESS', rowsAffected: rows, queryId, extra: { rows_inserted: rows } };
}
