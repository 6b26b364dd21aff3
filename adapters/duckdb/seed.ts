/**
 * Seed loading on DuckDB: DuckDB parses the CSV itself (read_csv with the column types Kiln resolved),
 * so no values pass through SQL text.
 *
 * @example
 * await loadDuckdbSeed(conn, rel, { path: 'seeds/orders.csv', delimiter: ',', columns, quoteColumns: true })
 */
import type { AdapterResponse, Connection, RelationRef, SeedLoad } from '../../src/adapter.js';
import { renderDuckdbRelation } from './ddl.js';

export async function loadDuckdbSeed(conn: Connection, rel: RelationRef, seed: SeedLoad): Promise<AdapterResponse> {
  // read_csv's arguments must be constants, not parameters; the path and delimiter are escaped as literals.
  const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;
  const columnSpec = seed.columns.map((c) => `${literal(c.name)}: ${literal(c.nativeType)}`).join(', ');
  const sql =
    `insert into ${renderDuckdbRelation(rel)} select * from read_csv(${literal(seed.path)}, ` +
    `header = true, delim = ${literal(seed.delimiter)}, quote = '"', escape = '"', ` +
    `columns = {${columnSpec}}, auto_detect = false, null_padding = false)`;
  const res = await conn.execute(sql);
  return { message: `INSERT ${res.rowsAffected ?? 0}`, rowsAffected: res.rowsAffected ?? 0 };
}
