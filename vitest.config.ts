import { configDefaults, defineConfig } from 'vitest/config';

/**
 * Suites that need a PostgreSQL server. They form their own project so that its global setup (a throwaway
 * server, test/pg/globalSetup.ts) starts only when one of them is selected.
 */
const POSTGRES_TESTS = [
  'test/conformance/postgres.test.ts',
  'test/conformance/redshift-on-postgres.test.ts',
  'test/e2e/postgres-*.test.ts',
];

/**
 * Suites that run snowflake-sdk against the local fake (test/fakes/snowflake). Their setup file switches off
 * the driver's platform detection and installs the network guard before the driver loads.
 */
const SNOWFLAKE_TESTS = ['test/conformance/snowflake.test.ts', 'test/e2e/snowflake-*.test.ts'];

/**
 * Suites that talk to the fake BigQuery service (test/fakes/bigquery). Their setup file installs the network
 * guard before any Google client library loads, and fails a test that reached a non-loopback address.
 */
const BIGQUERY_TESTS = ['test/conformance/bigquery.test.ts', 'test/e2e/bigquery-*.test.ts', 'test/fakes/bigquery/*.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // End-to-end tests spawn the CLI; keep parallelism within the 2 cores CI has.
    maxWorkers: 2,
    minWorkers: 1,
    projects: [
      {
        extends: true,
        test: { name: 'kiln', include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, ...POSTGRES_TESTS, ...SNOWFLAKE_TESTS, ...BIGQUERY_TESTS] },
      },
      {
        extends: true,
        test: { name: 'postgres', include: POSTGRES_TESTS, globalSetup: ['test/pg/globalSetup.ts'] },
      },
      {
        extends: true,
        test: { name: 'bigquery', include: BIGQUERY_TESTS, setupFiles: ['test/fakes/bigquery/setup.ts'] },
      },
      {
        extends: true,
        test: { name: 'snowflake', include: SNOWFLAKE_TESTS, setupFiles: ['test/fakes/snowflake/setup.ts'] },
      },
    ],
  },
});
