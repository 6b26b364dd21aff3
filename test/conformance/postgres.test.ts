/**
 * The conformance suite on a real PostgreSQL server (test/pg/globalSetup.ts starts a throwaway one): each
 * project gets its own schema `conform_<random>`, dropped afterwards with its `_dbt_test__audit` twin.
 */
import { describe, it } from 'vitest';
import { postgresAdapterFactory } from '../../adapters/postgres/index.js';
import { dropSchemas, pgServer, postgresTarget, uniqueSchema } from '../pg/server.js';
import { conformanceSuite } from './suite.js';

if (pgServer()) {
  conformanceSuite({
    name: 'postgres',
    factory: postgresAdapterFactory,
    target: () => postgresTarget(uniqueSchema('conform')),
    cleanup: (_adapter, schema) => dropSchemas(schema),
  });
} else {
  describe.skip('conformance: postgres (no PostgreSQL server; see test/pg/globalSetup.ts)', () => it('skipped', () => undefined));
}
