/**
 * The conformance suite with the redshift adapter against a real PostgreSQL server. The test-only switch
 * KILN_TEST_REDSHIFT_ON_POSTGRES=1 leaves out only what PostgreSQL cannot parse (dist/sort/backup clauses,
 * `with no schema binding`); the exact Redshift DDL is pinned by test/pg/redshift-golden.test.ts.
 */
import { describe, it } from 'vitest';
import { redshiftAdapterFactory } from '../../adapters/redshift/index.js';
import { dropSchemas, pgServer, REDSHIFT_ON_POSTGRES_ENV, redshiftTarget, uniqueSchema } from '../pg/server.js';
import { conformanceSuite } from './suite.js';

// The suite also opens the adapter in this process (to read results back).
Object.assign(process.env, REDSHIFT_ON_POSTGRES_ENV);

if (pgServer()) {
  conformanceSuite({
    name: 'redshift',
    factory: redshiftAdapterFactory,
    target: () => redshiftTarget(uniqueSchema('conform_rs')),
    env: REDSHIFT_ON_POSTGRES_ENV,
    cleanup: (_adapter, schema) => dropSchemas(schema),
  });
} else {
  describe.skip('conformance: redshift-on-postgres (no PostgreSQL server; see test/pg/globalSetup.ts)', () => it('skipped', () => undefined));
}
