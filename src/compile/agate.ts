/**
 * Query results as dbt templates expect them (dbt hands Jinja an agate.Table): `table.rows[0][0]`,
 * `row['name']`, `table.columns[0].values()`, `table.column_names`, `table | length`.
 */
import type { QueryResult } from '../adapter.js';

export type AgateRow = unknown[] & Record<string, unknown>;

export class AgateColumn {
  constructor(readonly name: string, readonly data_type: string, private readonly data: unknown[]) {}
  values(): unknown[] {
    return this.data;
  }
  values_distinct(): unknown[] {
    return [...new Set(this.data)];
  }
  values_without_nulls(): unknown[] {
    return this.data.filter((v) => v !== null && v !== undefined);
  }
}

export class AgateTable {
  readonly rows: AgateRow[];
  readonly columns: AgateColumn[];
  readonly column_names: string[];
  readonly column_types: string[];

  constructor(result: Pick<QueryResult, 'columns' | 'rows'> & Partial<QueryResult>) {
    this.column_names = result.columns.map((c) => c.name);
    this.column_types = result.columns.map((c) => c.dataType);
    this.rows = result.rows.map((r) => {
      const row = this.column_names.map((n) => r[n]) as AgateRow;
      for (const n of this.column_names) if (!/^\d+$/.test(n) && !(n in Array.prototype)) row[n] = r[n];
      return row;
    });
    this.columns = this.column_names.map((n, i) => new AgateColumn(n, this.column_types[i], this.rows.map((r) => r[i])));
    // Jinja's `length` filter and `len()` read .length.
    Object.defineProperty(this, 'length', { value: this.rows.length, enumerable: false });
  }

  print_table(): string {
    return [this.column_names.join(' | '), ...this.rows.map((r) => r.map(String).join(' | '))].join('\n');
  }

  [Symbol.iterator](): Iterator<AgateRow> {
    return this.rows[Symbol.iterator]();
  }
}
