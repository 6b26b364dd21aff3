/**
 * Vitest setup for the BigQuery tests: the network guard is installed before any test file (and so before
 * @google-cloud/bigquery and google-auth-library) loads, and every test fails if anything in this process
 * reached for a non-loopback address.
 */
import { afterEach, expect } from 'vitest';
import { netViolations } from './netGuard.mjs';

afterEach(() => {
  expect(netViolations(), 'network traffic to a non-loopback address').toEqual([]);
});
