/**
 * Standard SQL constraint clauses, as dbt renders them: what DuckDB and Postgres (and most warehouses) write.
 * An adapter's DdlDialect uses these with its own identifier quoting, or writes its own.
 *
 * @example
 * const sql = standardConstraintSql((n) => `"${n}"`);
 * sql.column({ type: 'check', expression: 'id > 0', name: 'positive' }) // constraint "positive" check (id > 0)
 * sql.table({ type: 'primary_key', columns: ['a', 'b'] })              // primary key (a, b)
 */
import type { ConstraintDdl } from '../adapter.js';

export function standardConstraintSql(quoteIdentifier: (name: string) => string): {
  column(c: ConstraintDdl): string | undefined;
  table(c: ConstraintDdl): string | undefined;
} {
  /** `constraint <name> ` before a clause, when the constraint is named. */
  const named = (name: string | undefined) => (name ? `constraint ${quoteIdentifier(name)} ` : '');
  return {
    column(c) {
      const expr = c.expression?.trim() ?? '';
      switch (c.type) {
        case 'not_null': return `not null ${expr}`.trim();
        case 'unique': return `unique ${expr}`.trim();
        case 'primary_key': return `primary key ${expr}`.trim();
        case 'check': return expr ? `${named(c.name)}check (${expr})` : undefined;
        case 'foreign_key':
          if (c.to && c.toColumns?.length) return `references ${c.to} (${c.toColumns.join(', ')})`;
          return expr ? `references ${expr}` : undefined;
        case 'custom': return expr || undefined;
      }
    },
    table(c) {
      const cols = (c.columns ?? []).join(', ');
      const expr = c.expression?.trim() ? ` ${c.expression.trim()}` : '';
      switch (c.type) {
        case 'check': return expr ? `${named(c.name)}check (${expr.trim()})` : undefined;
        case 'unique': return `${named(c.name)}unique${expr} (${cols})`;
        case 'primary_key': return `${named(c.name)}primary key${expr} (${cols})`;
        case 'foreign_key':
          if (c.to && c.toColumns?.length) return `${named(c.name)}foreign key (${cols}) references ${c.to} (${c.toColumns.join(', ')})`;
          return expr ? `${named(c.name)}foreign key (${cols}) references${expr}` : undefined;
        case 'custom': return expr ? `${named(c.name)}${expr.trim()}` : undefined;
        // A table cannot declare not null; the engine turns a model-level not_null into column constraints.
        case 'not_null': return undefined;
      }
    },
  };
}
