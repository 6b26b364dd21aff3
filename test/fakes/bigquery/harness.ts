/**
 * Test harness for the BigQuery adapter: a fake service, profile fields pointing at it, and the environment
 * for CLI processes (the network guard preloaded, its violations logged to a file the tests read).
 *
 * @example
 * const h = await BigQueryHarness.start();
 * const fields = h.target('conform_abc'); // { type: 'bigquery', method: 'oauth-secrets', token: …, api_endpoint: h.fake.url, … }
 * await h.stop();
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { FakeBigQuery } from './server.js';

export const FAKE_PROJECT = 'kiln-test';
export const FAKE_TOKEN = 'fake-access-token';
const GUARD = resolve(__dirname, 'netGuard.mjs');

export class BigQueryHarness {
  private constructor(readonly fake: FakeBigQuery, readonly guardLog: string) {}

  static async start(): Promise<BigQueryHarness> {
    const fake = await FakeBigQuery.start({ projects: [FAKE_PROJECT, 'kiln-other'] });
    return new BigQueryHarness(fake, join(mkdtempSync(join(tmpdir(), 'kiln-netguard-')), 'violations.log'));
  }

  /** Profile fields for a target writing to `dataset` on the fake. */
  target(dataset: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      type: 'bigquery', method: 'oauth-secrets', token: FAKE_TOKEN, project: FAKE_PROJECT, dataset, location: 'US',
      api_endpoint: this.fake.url, threads: 2, ...extra,
    };
  }

  /** Environment for `kiln` child processes: the guard preloaded, violations to the log file. */
  env(): Record<string, string> {
    const preload = `--import ${pathToFileURL(GUARD).href}`;
    return { NODE_OPTIONS: [process.env.NODE_OPTIONS, preload].filter(Boolean).join(' '), NET_GUARD_LOG: this.guardLog, METADATA_SERVER_DETECTION: 'none' };
  }

  /** Lines child processes logged as network violations. */
  childViolations(): string[] {
    return existsSync(this.guardLog) ? readFileSync(this.guardLog, 'utf8').split('\n').filter(Boolean) : [];
  }

  async stop(): Promise<void> {
    await this.fake.stop();
  }
}

export function uniqueDataset(prefix: string): string {
  return `${prefix}_${Math.random().toString(36).slice(2, 10)}`;
}
