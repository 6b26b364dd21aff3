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
    const names = this.column_names;
    this.rows = result.rows.map((r) => {
      const row = names.map((n) => r[n]) as AgateRow;
      for (const n of names) if (!/^\d+$/.test(n) && !(n in Array.prototype)) row[n] = r[n];
      // agate rows are mappings too: row.keys(), row.values(), row.items(), row.dict().
      Object.defineProperties(row, {
        keys: { value: () => [...names] },
        values: { value: () => [...row] },
        items: { value: () => names.map((n, i) => [n, row[i]]) },
        dict: { value: () => Object.fromEntries(names.map((n, i) => [n, row[i]])) },
        get: { value: (key: string | number, fallback: unknown = null) => {
          const i = typeof key === 'number' ? key : names.indexOf(key);
          return i >= 0 && i < row.length ? row[i] : fallback;
        } },
      });
      return row;
    });
    const columns = names.map((n, i) => new AgateColumn(n, this.column_types[i], this.rows.map((r) => r[i])));
    // `table.columns['amount']` as well as `table.columns[0]`.
    for (const c of columns) if (!/^\d+$/.test(c.name) && !(c.name in Array.prototype)) (columns as unknown as Record<string, AgateColumn>)[c.name] = c;
    // agate's MappedSequence: `columns.keys()` are the names, `items()` pairs (dbt_utils.get_query_results_as_dict).
    Object.defineProperties(columns, {
      keys: { value: () => [...names], enumerable: false },
      values: { value: () => [...columns], enumerable: false },
      items: { value: () => names.map((n, i) => [n, columns[i]]), enumerable: false },
      get: { value: (key: string, fallback: unknown = null) => columns.find((c) => c.name === key) ?? fallback, enumerable: false },
    });
    this.columns = columns;
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
