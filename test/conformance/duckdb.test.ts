/** The conformance suite on embedded DuckDB: each project gets its own database file. */
import { join } from 'node:path';
import { duckdbAdapterFactory } from '../../adapters/duckdb/index.js';
import { conformanceSuite } from './suite.js';

conformanceSuite({
  name: 'duckdb',
  factory: duckdbAdapterFactory,
  target: (dir) => ({ type: 'duckdb', path: join(dir, 'warehouse.duckdb'), threads: 2 }),
});
