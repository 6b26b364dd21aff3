/**
 * BigQuery "connections": the REST client (@google-cloud/bigquery) is stateless, so a session is a handle
 * on the shared client that runs each statement as a query job. Every job gets a job id before it is
 * inserted (jobs.insert), so it can be cancelled while it runs: `cancelAll` calls jobs.cancel for every
 * running job (SIGINT) and waits for them to stop. Results are read with getQueryResults (long-polling
 * while the job runs, then page by page), and the finished job's statistics give bytes processed and
 * billed, the statement type and DML row counts. Errors keep BigQuery's message, reason and location, with
 * the position `at [line:col]` restated as `at line n` for the engine's compiled-file mapping; transient
 * failures (backendError, rateLimitExceeded, internalError, HTTP 5xx) are retried `job_retries` times.
 *
 * @example
 * const pool = await BigQueryPool.open(settings);
 * await pool.withConnection((c) => c.execute('select 1 as answer'));
 */
import { randomUUID } from 'node:crypto';
import type { BigQuery, Job, Query } from '@google-cloud/bigquery';
import type { Connection, ExecuteOptions, QueryResult } from '../../src/adapter.js';
import { fieldType, parseCell, type ApiField } from './types.js';

export interface BigQuerySettings {
  /** Where tables live (the target's `project`). */
  project: string;
  /** Where jobs run and are billed (`execution_project`, default `project`). */
  executionProject: string;
  location?: string;
  priority: 'interactive' | 'batch';
  jobTimeoutMs?: number;
  jobRetries: number;
  maximumBytesBilled?: number;
  apiEndpoint?: string;
  authClient: unknown;
  /** Labels put on every job (dbt-bigquery's query comment as job labels). */
  labels?: Record<string, string>;
}

/** A BigQuery error with its reason (`invalidQuery`, `notFound` …), location and job. */
export class BigQueryError extends Error {
  constructor(message: string, readonly reason: string | undefined, readonly jobId: string | undefined, readonly httpCode?: number) {
    super(message);
    this.name = 'BigQueryError';
  }
}

interface ApiErrorItem {
  reason?: string;
  location?: string;
  message?: string;
}

/**
 * BigQuery's message, reason and location in one line; `at [3:8]` is restated as `at line 3, column 8`, which
 * the engine maps onto the compiled file. `lineOffset` lines that the adapter put before the statement are
 * taken off.
 */
export function describeBigQueryError(e: unknown, jobId?: string, lineOffset = 0): Error {
  if (e instanceof BigQueryError) return e;
  const err = e as { message?: string; errors?: ApiErrorItem[]; code?: number; response?: { status?: { errorResult?: ApiErrorItem } } };
  const items: ApiErrorItem[] = err?.errors?.length ? err.errors : err?.response?.status?.errorResult ? [err.response.status.errorResult] : [];
  if (!items.length) return e instanceof Error ? e : new Error(String(e));
  const first = items.find((i) => i.reason !== 'stopped' || items.length === 1) ?? items[0];
  const message = (first.message ?? err.message ?? 'BigQuery error').replace(/\s+/g, ' ').trim();
  const pos = /at \[(\d+):(\d+)\]/.exec(message);
  const parts = [first.reason ? `reason: ${first.reason}` : '', first.location ? `location: ${first.location}` : ''].filter(Boolean);
  let text = `${message}${parts.length ? ` (${parts.join(', ')})` : ''}`;
  if (pos) text += `; at line ${Math.max(1, Number(pos[1]) - lineOffset)}, column ${pos[2]}`;
  if (jobId) text += `; job ${jobId}`;
  return new BigQueryError(text, first.reason, jobId, err.code);
}

const TRANSIENT_REASONS = new Set(['backendError', 'rateLimitExceeded', 'internalError', 'jobBackendError', 'jobInternalError']);

function isTransient(e: unknown): boolean {
  if (e instanceof BigQueryError) return (!!e.reason && TRANSIENT_REASONS.has(e.reason)) || (!!e.httpCode && e.httpCode >= 500);
  return ['ECONNRESET', 'ETIMEDOUT', 'EAI_AGAIN', 'ECONNREFUSED'].includes(String((e as { code?: unknown })?.code));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `CREATE_TABLE_AS_SELECT` → `CREATE TABLE`, as dbt-bigquery prints statement types. */
function statementWords(type: string | undefined): string {
  if (!type) return 'OK';
  return type.replace(/_AS_SELECT$/, '').replace(/_/g, ' ');
}

const num = (v: unknown): number | undefined => (v === undefined || v === null || v === '' ? undefined : Number(v));

export class BigQuerySession implements Connection {
  constructor(readonly pool: BigQueryPool) {}

  execute(sql: string, opts: ExecuteOptions = {}): Promise<QueryResult> {
    return this.pool.runQuery(sql, opts);
  }
}

export class BigQueryPool {
  /** Set by cancelAll: statements still to come fail at once. */
  cancelled = false;
  /** Jobs running now, by id (inserted and not yet finished). */
  private readonly running = new Map<string, { job: Job; done: Promise<unknown> }>();

  private constructor(readonly client: BigQuery, readonly settings: BigQuerySettings) {}

  static async open(settings: BigQuerySettings): Promise<BigQueryPool> {
    // Loaded on first open: parse, compile and `ls` never load the Google client libraries.
    const { BigQuery } = await import('@google-cloud/bigquery');
    const client = new BigQuery({
      projectId: settings.executionProject,
      location: settings.location,
      ...(settings.apiEndpoint ? { apiEndpoint: settings.apiEndpoint.replace(/\/+$/, '') } : {}),
      authClient: settings.authClient as never,
      userAgent: 'kiln',
      autoRetry: true,
      maxRetries: 3,
    });
    return new BigQueryPool(client, settings);
  }

  async withConnection<T>(fn: (conn: Connection) => Promise<T>): Promise<T> {
    return fn(new BigQuerySession(this));
  }

  /** A fresh job id; the prefix makes Kiln's jobs easy to find in the console. */
  newJobId(): string {
    return `kiln_${randomUUID().replace(/-/g, '_')}`;
  }

  /** Keep `job` in the running set while `work` runs, so cancelAll can reach it. */
  async track<T>(job: Job, work: Promise<T>): Promise<T> {
    this.running.set(job.id!, { job, done: work.catch(() => undefined) });
    try {
      return await work;
    } finally {
      this.running.delete(job.id!);
    }
  }

  async runQuery(sql: string, opts: ExecuteOptions): Promise<QueryResult> {
    for (let attempt = 0; ; attempt++) {
      if (this.cancelled) throw new BigQueryError('Job execution was cancelled: Kiln was interrupted (reason: stopped)', 'stopped', undefined);
      const jobId = this.newJobId();
      try {
        return await this.runJob(jobId, sql, opts);
      } catch (e) {
        const err = describeBigQueryError(e, jobId);
        if (!this.cancelled && attempt < this.settings.jobRetries && isTransient(err)) {
          await sleep(Math.min(8000, 1000 * 2 ** attempt));
          continue;
        }
        throw err;
      }
    }
  }

  private async runJob(jobId: string, sql: string, opts: ExecuteOptions): Promise<QueryResult> {
    const s = this.settings;
    const query: Query = {
      query: sql,
      useLegacySql: false,
      jobId,
      location: s.location,
      priority: s.priority === 'batch' ? 'BATCH' : 'INTERACTIVE',
      ...(s.jobTimeoutMs ? { jobTimeoutMs: s.jobTimeoutMs } : {}),
      ...(s.maximumBytesBilled ? { maximumBytesBilled: String(s.maximumBytesBilled) } : {}),
      ...(s.labels ? { labels: s.labels } : {}),
    };
    if (opts.params) {
      query.params = opts.params.map((p) => (p === undefined ? null : p)) as unknown[];
      query.types = opts.params.map((p) => (p === null || p === undefined ? 'STRING' : undefined)) as never;
      if (!opts.params.some((p) => p === null || p === undefined)) delete query.types;
    }
    const [job] = await this.client.createQueryJob(query);
    return this.track(job, this.readResults(job, opts.limit));
  }

  /** Wait for the job, read its rows (up to `limit`), then its statistics. */
  private async readResults(job: Job, limit: number | undefined): Promise<QueryResult> {
    let schema: ApiField[] | undefined;
    const rows: Record<string, unknown>[] = [];
    let pageToken: string | undefined;
    for (;;) {
      const options: Record<string, unknown> = { autoPaginate: false, skipParsing: true, ...(pageToken ? { pageToken } : {}) };
      if (limit !== undefined) options.maxResults = Math.max(1, Math.min(10_000, limit - rows.length));
      const [raw, , resp] = (await job.getQueryResults(options)) as unknown as [unknown[], unknown, Record<string, unknown>];
      if (resp?.jobComplete === false) continue; // still running: the server long-polled; ask again
      schema = (resp?.schema as { fields?: ApiField[] } | undefined)?.fields ?? schema;
      for (const r of (raw ?? []) as { f: { v: unknown }[] }[]) {
        if (limit !== undefined && rows.length >= limit) break;
        rows.push(Object.fromEntries((schema ?? []).map((f, i) => [f.name, parseCell(r.f[i]?.v, f)])));
      }
      pageToken = resp?.pageToken as string | undefined;
      if (!pageToken || (limit !== undefined && rows.length >= limit)) break;
    }
    let meta = job.metadata as Record<string, any> | undefined;
    if (meta?.status?.state !== 'DONE' || !meta?.statistics?.query) [meta] = (await job.getMetadata()) as unknown as [Record<string, any>];
    const stats = meta?.statistics?.query ?? {};
    const statementType: string | undefined = stats.statementType;
    const dml = num(stats.numDmlAffectedRows);
    const processed = num(stats.totalBytesProcessed ?? meta?.statistics?.totalBytesProcessed);
    const billed = num(stats.totalBytesBilled);
    return {
      columns: (schema ?? []).map((f) => ({ name: f.name, dataType: fieldType(f) })),
      rows,
      message: statementWords(statementType),
      code: statementType,
      rowsAffected: dml ?? (statementType === 'SELECT' ? rows.length : undefined),
      queryId: job.id,
      extra: {
        bytes_processed: processed ?? 0,
        bytes_billed: billed ?? 0,
        slot_ms: num(stats.totalSlotMs) ?? null,
        location: (job.location as string | undefined) ?? this.settings.location ?? null,
        project_id: this.settings.executionProject,
        job_id: job.id ?? null,
      },
    };
  }

  /** jobs.cancel for every running job, then wait (at most 15 s) for them to stop. */
  async cancelAll(): Promise<void> {
    this.cancelled = true;
    const jobs = [...this.running.values()];
    await Promise.all(jobs.map(({ job }) => job.cancel().catch(() => undefined)));
    await Promise.race([Promise.all(jobs.map((j) => j.done)), new Promise((r) => setTimeout(r, 15_000).unref())]);
  }

  async close(): Promise<void> {
    // HTTP keeps no session open; nothing to close.
  }
}
