/**
 * The adapter registry: the one place `src/` reaches into `adapters/`. Adapters load lazily so that a
 * DuckDB-only project never loads a Postgres driver.
 */
import type { AdapterFactory } from './adapter.js';
import { KilnError, type SourceLocation } from './errors.js';

const loaders: Record<string, () => Promise<AdapterFactory>> = {
  duckdb: async () => (await import('../adapters/duckdb/index.js')).duckdbAdapterFactory,
  postgres: async () => (await import('../adapters/postgres/index.js')).postgresAdapterFactory,
  redshift: async () => (await import('../adapters/redshift/index.js')).redshiftAdapterFactory,
  bigquery: async () => (await import('../adapters/bigquery/index.js')).bigqueryAdapterFactory,
  snowflake: async () => (await import('../adapters/snowflake/index.js')).snowflakeAdapterFactory,
};

/** Adapter types that are planned but not built yet, so the error can say so rather than "unknown". */
const planned: string[] = [];

export function availableAdapterTypes(): string[] {
  return Object.keys(loaders);
}

export async function loadAdapterFactory(type: string, location?: SourceLocation): Promise<AdapterFactory> {
  const load = loaders[type];
  if (!load) {
    const known = availableAdapterTypes().join(', ');
    const msg = planned.includes(type)
      ? `the ${type} adapter is not available in this version of Kiln`
      : `unknown adapter type '${type}'`;
    throw new KilnError('config', msg, { location, hint: `Adapters available: ${known}.` });
  }
  return load();
}
