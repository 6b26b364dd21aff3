/**
 * Vitest setup for the Snowflake tests: before anything loads snowflake-sdk, switch off its platform
 * detection and install the network guard (no socket or DNS lookup may reach a non-loopback address).
 * A test that caused an attempt fails at the end of its file.
 */
import { afterAll, expect } from 'vitest';
import './netGuard.mjs';

process.env.SNOWFLAKE_DISABLE_PLATFORM_DETECTION = 'true';

afterAll(() => {
  const violations = (globalThis as { __kilnNetGuardViolations?: string[] }).__kilnNetGuardViolations ?? [];
  expect(violations, 'network traffic to a non-loopback address').toEqual([]);
});
