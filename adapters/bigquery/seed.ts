/**
 * Seed loading on BigQuery: a load job (`POST /upload/bigquery/v2/projects/{p}/jobs`, multipart) that
 * streams the CSV file as it is into the (empty) table, with the table's schema given explicitly, so
 * values never pass through SQL text. A BOM and blank lines are dropped on the way (Kiln's CSV reader
 * skips them); empty unquoted cells load as NULL. The job is cancellable like a query job.
 *
 * @example
 * await loadBigQuerySeed(conn, rel, { path: '/p/seeds/orders.csv', delimiter: ',', columns, quoteColumns: true, rowCount: 3 })
 */
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { Job } from '@google-cloud/bigquery';
import type { AdapterResponse, Connection, RelationRef, SeedLoad } from '../../src/adapter.js';
import { CsvCleaner } from '../postgres/seed.js';
import { describeBigQueryError } from './connection.js';
import { sessionOf } from './introspection.js';
import { normalizeBigQueryType } from './types.js';

/** The load job's schema type for a column's native type (the API wants legacy names for a few). */
function loadType(nativeType: string): string {
  const t = normalizeBigQueryType(nativeType).replace(/\(.*\)$/, '');
  return ({ INT64: 'INTEGER', FLOAT64: 'FLOAT', BOOL: 'BOOLEAN' } as Record<string, string>)[t] ?? t;
}

export async function loadBigQuerySeed(conn: Connection, rel: RelationRef, seed: SeedLoad): Promise<AdapterResponse> {
  const { pool } = sessionOf(conn);
  const jobId = pool.newJobId();
  const table = pool.client.dataset(rel.schema, { projectId: rel.database ?? pool.settings.project }).table(rel.identifier, { location: pool.settings.location });
  const metadata = {
    sourceFormat: 'CSV',
    skipLeadingRows: 1,
    fieldDelimiter: seed.delimiter,
    quote: '"',
    allowQuotedNewlines: true,
    encoding: 'UTF-8',
    nullMarker: '',
    writeDisposition: 'WRITE_APPEND',
    createDisposition: 'CREATE_NEVER',
    schema: { fields: seed.columns.map((c) => ({ name: c.name, type: loadType(c.nativeType), mode: 'NULLABLE' })) },
    jobId,
    ...(pool.settings.labels ? { labels: pool.settings.labels } : {}),
  };
  const stream = table.createWriteStream(metadata as never);
  let job: Job | undefined;
  const finished = new Promise<Job>((resolveJob, reject) => {
    stream.on('job', (j: Job) => {
      job = j;
      pool.track(j, new Promise((r) => stream.on('complete', r).on('error', r))).catch(() => undefined);
    });
    stream.on('complete', (j: Job) => resolveJob(j));
    stream.on('error', reject);
  });
  try {
    await Promise.all([pipeline(createReadStream(seed.path, { highWaterMark: 1 << 20 }), new CsvCleaner(), stream), finished]);
  } catch (e) {
    throw describeBigQueryError(e, job?.id ?? jobId);
  }
  const done = await finished;
  const stats = (done.metadata as { statistics?: { load?: { outputRows?: string; inputFileBytes?: string } } }).statistics?.load;
  const rows = Number(stats?.outputRows ?? seed.rowCount);
  return {
    message: 'LOAD', code: 'LOAD', rowsAffected: rows, queryId: done.id,
    extra: { bytes_processed: 0, bytes_billed: 0, input_file_bytes: Number(stats?.inputFileBytes ?? 0), job_id: done.id ?? null },
  };
}
