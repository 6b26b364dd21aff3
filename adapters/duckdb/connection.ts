/**
 * DuckDB connections: one in-process database instance per run and a small pool of connections on it,
 * one per scheduler thread. Transactions are per connection, as on a client–server warehouse.
 *
 * @example
 * const db = await DuckDBPool.open('target/shop.duckdb', 4, {});
 * await db.withConnection((c) => c.execute('select 42 as answer'));
 */
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import type { Connection, ExecuteOptions, QueryResult } from '../../src/adapter.js';
import { toPlainValue } from './types.js';

class DuckDBSession implements Connection {
  constructor(readonly raw: DuckDBConnection) {}

  async execute(sql: string, opts: ExecuteOptions = {}): Promise<QueryResult> {
    const params = opts.params ? (opts.params.map(toBindable) as never) : undefined;
    const reader = await this.raw.runAndReadAll(sql, params);
    const names = reader.columnNames();
    const types = reader.columnTypes();
    const columns = names.map((name, i) => ({ name, dataType: types[i].toString() }));
    const rows = reader.getRowObjectsJS().map((row) => {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(row)) out[k] = toPlainValue(v);
      return out;
    });
    // DDL that creates rows (CTAS, INSERT) answers with a single `Count` column.
    const isCount = names.length === 1 && names[0] === 'Count' && rows.length === 1;
    const rowsAffected = isCount ? Number(rows[0].Count) : undefined;
    return { columns, rows, rowsAffected, message: isCount ? `OK ${rowsAffected}` : 'OK' };
  }
}

function toBindable(v: unknown): unknown {
  if (v === undefined) return null;
  return v;
}

export class DuckDBPool {
  private idle: DuckDBSession[] = [];
  private waiting: ((s: DuckDBSession) => void)[] = [];
  private busy = new Set<DuckDBSession>();

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly all: DuckDBSession[],
  ) {
    this.idle = [...all];
  }

  static async open(path: string, size: number, settings: Record<string, string>): Promise<DuckDBPool> {
    const options: Record<string, string> = { ...settings };
    // Loaded on first open: `kiln parse` and `kiln ls` never touch the warehouse, and the native module
    // costs about 0.1 s to load.
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const instance = await DuckDBInstance.create(path, options);
    const sessions: DuckDBSession[] = [];
    for (let i = 0; i < Math.max(1, size); i++) sessions.push(new DuckDBSession(await instance.connect()));
    return new DuckDBPool(instance, sessions);
  }

  async withConnection<T>(fn: (conn: Connection) => Promise<T>): Promise<T> {
    const session = this.idle.pop() ?? (await new Promise<DuckDBSession>((r) => this.waiting.push(r)));
    this.busy.add(session);
    try {
      return await fn(session);
    } finally {
      this.busy.delete(session);
      const next = this.waiting.shift();
      if (next) next(session);
      else this.idle.push(session);
    }
  }

  async cancelAll(): Promise<void> {
    for (const s of this.busy) s.raw.interrupt();
  }

  async close(): Promise<void> {
    for (const s of this.all) s.raw.closeSync();
    this.instance.closeSync();
  }
}
