/**
 * The conformance suite through the real CLI and the real @google-cloud/bigquery client, against the fake
 * BigQuery service (test/fakes/bigquery): each project writes to its own dataset. No request leaves
 * loopback: the network guard runs in this process (setup file) and in every CLI process (NODE_OPTIONS).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { bigqueryAdapterFactory } from '../../adapters/bigquery/index.js';
import { BigQueryHarness, uniqueDataset } from '../fakes/bigquery/harness.js';
import { conformanceSuite } from './suite.js';

let h: BigQueryHarness;
beforeAll(async () => {
  h = await BigQueryHarness.start();
});
afterAll(async () => {
  await h?.stop();
});

conformanceSuite({
  name: 'bigquery',
  factory: bigqueryAdapterFactory,
  target: () => h.target(uniqueDataset('conform')),
  get env() {
    return h.env();
  },
  cleanup: async (adapter, schema) => {
    await adapter.withConnection(async (c) => {
      for (const s of [schema, `${schema}_dbt_test__audit`]) await c.execute(`drop schema if exists \`${adapter.defaultDatabase}\`.\`${s}\` cascade`);
    });
  },
});

it('no CLI process reached for a non-loopback address', () => {
  expect(h.childViolations()).toEqual([]);
});
