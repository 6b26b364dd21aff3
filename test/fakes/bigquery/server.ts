/**
 * A fake BigQuery REST service on 127.0.0.1 for Kiln's tests, executing the SQL on an in-memory DuckDB
 * (each BigQuery project is an attached DuckDB catalog, each dataset a schema). It speaks what
 * @google-cloud/bigquery sends, with BigQuery's response shapes (int64 as strings, TIMESTAMP as int64
 * microseconds, REPEATED as `[{v}]`, RECORD as `{f:[{v}]}`, errors as `{error:{code,message,errors,status}}`):
 *
 *   POST /bigquery/v2/projects/{p}/jobs                     jobs.insert (query); runs in the background
 *   POST /upload/bigquery/v2/projects/{p}/jobs              jobs.insert (load, multipart/related upload of a CSV)
 *   GET  /bigquery/v2/projects/{p}/queries/{job}            getQueryResults (long-polls while the job runs; pages)
 *   POST /bigquery/v2/projects/{p}/queries                  jobs.query (a query answered in one call)
 *   GET  /bigquery/v2/projects/{p}/jobs/{job}               jobs.get (status, statistics)
 *   POST /bigquery/v2/projects/{p}/jobs/{job}/cancel        jobs.cancel (interrupts DuckDB)
 *   GET  /bigquery/v2/projects/{p}/datasets/{d}             datasets.get;  DELETE … (?deleteContents=true)
 *   GET  /bigquery/v2/projects/{p}/datasets/{d}/tables      tables.list
 *   GET  /bigquery/v2/projects/{p}/datasets/{d}/tables/{t}  tables.get (schema, partitioning, clustering, options)
 *
 * Every request needs `Authorization: Bearer …` and is recorded in `requests` (the protocol contract).
 * Bytes processed are estimated from the tables a statement reads (rows × columns × 8); bytes billed follow
 * on-demand rules (rounded up to 1 MiB, at least 10 MiB), and `maximumBytesBilled` is enforced. A query
 * containing the comment `/* fake:sleep_ms=N *\/` runs N ms longer (to test cancellation).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection, type DuckDBResultReader } from '@duckdb/node-api';
import { duckName, literalValue, planStatement, splitStatements, TranslationError, type TableOptions } from './translate.js';

export interface FakeRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body?: unknown;
  auth?: string;
}

interface ApiField {
  name: string;
  type: string;
  mode: 'NULLABLE' | 'REQUIRED' | 'REPEATED';
  fields?: ApiField[];
  description?: string;
}

class ApiErr extends Error {
  constructor(readonly code: number, message: string, readonly reason: string, readonly location?: string) {
    super(message);
  }
  body() {
    const status = { 400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND', 409: 'ALREADY_EXISTS', 500: 'INTERNAL' }[this.code] ?? 'UNKNOWN';
    return { error: { code: this.code, message: this.message, errors: [{ message: this.message, domain: 'global', reason: this.reason, ...(this.location ? { location: this.location, locationType: 'other' } : {}) }], status } };
  }
  errorProto() {
    return { reason: this.reason, message: this.message, ...(this.location ? { location: this.location } : {}) };
  }
}

interface QueryOutcome {
  schema?: ApiField[];
  rows?: unknown[];
  statementType: string;
  dml?: number;
  bytesProcessed: number;
  bytesBilled: number;
  outputRows?: number;
  inputBytes?: number;
}

interface FakeJob {
  projectId: string;
  jobId: string;
  location: string;
  configuration: Record<string, any>;
  state: 'RUNNING' | 'DONE';
  created: number;
  ended?: number;
  error?: ApiErr;
  outcome?: QueryOutcome;
  done: Promise<void>;
  conn?: DuckDBConnection;
  cancel?: (err: ApiErr) => void;
}

interface TableMeta extends TableOptions {
  description?: string;
  columns: Record<string, string>;
}

const MiB = 1024 * 1024;

/** A DuckDB type as a BigQuery API schema field. */
export function duckTypeToField(name: string, type: string, nullable = true): ApiField {
  const t = type.trim();
  if (/\[\d*\]$/.test(t)) return { ...duckTypeToField(name, t.replace(/\[\d*\]$/, '')), mode: 'REPEATED' };
  const struct = /^STRUCT\((.*)\)$/is.exec(t);
  if (struct) {
    const fields: ApiField[] = [];
    let depth = 0;
    let start = 0;
    const body = struct[1];
    const parts: string[] = [];
    for (let i = 0; i < body.length; i++) {
      if (body[i] === '(') depth++;
      else if (body[i] === ')') depth--;
      else if (body[i] === ',' && depth === 0) {
        parts.push(body.slice(start, i));
        start = i + 1;
      }
    }
    parts.push(body.slice(start));
    for (const p of parts) {
      const m = /^\s*("(?:[^"]|"")*"|\S+)\s+(.+?)\s*$/s.exec(p);
      if (m) fields.push(duckTypeToField(m[1].replace(/^"|"$/g, '').replace(/""/g, '"'), m[2]));
    }
    return { name, type: 'RECORD', mode: nullable ? 'NULLABLE' : 'REQUIRED', fields };
  }
  const base = t.toUpperCase().replace(/\(.*\)$/, '');
  const map: Record<string, string> = {
    BIGINT: 'INTEGER', INTEGER: 'INTEGER', SMALLINT: 'INTEGER', TINYINT: 'INTEGER', HUGEINT: 'INTEGER', UBIGINT: 'INTEGER', UINTEGER: 'INTEGER',
    USMALLINT: 'INTEGER', UTINYINT: 'INTEGER', DOUBLE: 'FLOAT', FLOAT: 'FLOAT', REAL: 'FLOAT', VARCHAR: 'STRING', BOOLEAN: 'BOOLEAN',
    DATE: 'DATE', TIMESTAMP: 'TIMESTAMP', 'TIMESTAMP WITH TIME ZONE': 'TIMESTAMP', TIMESTAMP_NS: 'TIMESTAMP', TIMESTAMP_MS: 'TIMESTAMP',
    TIMESTAMP_S: 'TIMESTAMP', TIME: 'TIME', BLOB: 'BYTES', JSON: 'JSON', INTERVAL: 'INTERVAL', UUID: 'STRING',
  };
  let out = map[base] ?? 'STRING';
  if (base === 'DECIMAL') out = Number(/\((\d+)/.exec(t)?.[1] ?? 18) > 38 ? 'BIGNUMERIC' : 'NUMERIC';
  return { name, type: out, mode: nullable ? 'NULLABLE' : 'REQUIRED' };
}

/** A DuckDB runtime value as an API cell value (`v`). */
function cell(value: unknown, f: ApiField, int64Timestamps: boolean): unknown {
  if (value === null || value === undefined) return null;
  if (f.mode === 'REPEATED') {
    const items = (value as { items?: unknown[] }).items ?? [];
    return items.map((x) => ({ v: cell(x, { ...f, mode: 'NULLABLE' }, int64Timestamps) }));
  }
  if (f.type === 'RECORD') {
    const entries = (value as { entries?: Record<string, unknown> }).entries ?? {};
    return { f: (f.fields ?? []).map((c) => ({ v: cell(entries[c.name], c, int64Timestamps) })) };
  }
  switch (f.type) {
    case 'TIMESTAMP': {
      const micros = (value as { micros?: bigint }).micros;
      if (micros === undefined) return String(value);
      return int64Timestamps ? String(micros) : String(Number(micros) / 1e6);
    }
    case 'BOOLEAN': return value ? 'true' : 'false';
    case 'BYTES': return Buffer.from((value as { bytes?: Uint8Array }).bytes ?? []).toString('base64');
    default: return String(value);
  }
}

function parseMultipart(body: Buffer, contentType: string): { metadata: Record<string, any>; data: Buffer } {
  const boundary = /boundary="?([^";]+)"?/.exec(contentType)?.[1];
  if (!boundary) throw new ApiErr(400, 'Missing multipart boundary', 'invalid');
  const sep = Buffer.from(`--${boundary}`);
  const parts: Buffer[] = [];
  let pos = body.indexOf(sep);
  while (pos >= 0) {
    const next = body.indexOf(sep, pos + sep.length);
    if (next < 0) break;
    parts.push(body.subarray(pos + sep.length, next));
    pos = next;
  }
  const content = parts.map((p) => {
    const headEnd = p.indexOf('\r\n\r\n');
    let data = p.subarray(headEnd + 4);
    if (data.subarray(-2).toString() === '\r\n') data = data.subarray(0, -2);
    return data;
  });
  if (content.length < 2) throw new ApiErr(400, 'A multipart upload needs metadata and media parts', 'invalid');
  return { metadata: JSON.parse(content[0].toString('utf8')), data: content[1] };
}

const readBody = (req: IncomingMessage) => new Promise<Buffer>((resolve, reject) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => resolve(Buffer.concat(chunks)));
  req.on('error', reject);
});

export class FakeBigQuery {
  readonly requests: FakeRequest[] = [];
  readonly jobs = new Map<string, FakeJob>();
  private readonly tables = new Map<string, TableMeta>();
  private readonly datasetLocations = new Map<string, string>();
  private readonly tmp = mkdtempSync(join(tmpdir(), 'kiln-fake-bq-'));
  url = '';

  private constructor(private readonly db: DuckDBInstance, private readonly server: Server, readonly projects: string[]) {}

  /** Start on a free loopback port with these projects (DuckDB catalogs). */
  static async start(opts: { projects?: string[] } = {}): Promise<FakeBigQuery> {
    const projects = opts.projects ?? ['kiln-test'];
    const db = await DuckDBInstance.create(':memory:');
    const setup = await db.connect();
    for (const p of projects) await setup.run(`attach ':memory:' as ${duckName([p])}`);
    setup.closeSync();
    let fake!: FakeBigQuery;
    const server = createServer((req, res) => void fake.handle(req, res));
    fake = new FakeBigQuery(db, server, projects);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return fake;
  }

  async stop(): Promise<void> {
    for (const j of this.jobs.values()) j.cancel?.(new ApiErr(400, 'Job execution was cancelled: the fake stopped', 'stopped'));
    await new Promise((r) => this.server.close(r));
    this.server.closeAllConnections?.();
    rmSync(this.tmp, { recursive: true, force: true });
  }

  /** Requests whose path ends with `suffix` (method optional), for contract assertions. */
  calls(method?: string, pathPattern?: RegExp): FakeRequest[] {
    return this.requests.filter((r) => (!method || r.method === method) && (!pathPattern || pathPattern.test(r.path)));
  }

  private send(res: ServerResponse, code: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(code, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const query = Object.fromEntries(url.searchParams);
    const raw = await readBody(req);
    const entry: FakeRequest = { method: req.method ?? 'GET', path: url.pathname, query, auth: req.headers.authorization };
    this.requests.push(entry);
    try {
      if (!/^Bearer \S+/.test(req.headers.authorization ?? '')) {
        throw new ApiErr(401, 'Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.', 'required');
      }
      const upload = /^\/upload\/bigquery\/v2\/projects\/([^/]+)\/jobs$/.exec(url.pathname);
      if (upload && req.method === 'POST') {
        const { metadata, data } = parseMultipart(raw, String(req.headers['content-type'] ?? ''));
        entry.body = { metadata, bytes: data.length };
        return this.send(res, 200, this.jobResource(this.insertLoad(decodeURIComponent(upload[1]), metadata, data)));
      }
      const body = raw.length ? JSON.parse(raw.toString('utf8')) : undefined;
      entry.body = body;
      const m = /^\/bigquery\/v2\/projects\/([^/]+)\/(.*)$/.exec(url.pathname);
      if (!m) throw new ApiErr(404, `Not found: URL ${url.pathname}`, 'notFound');
      const project = decodeURIComponent(m[1]);
      const rest = m[2].split('/').map(decodeURIComponent);
      const route = `${req.method} ${rest.map((p, i) => (i % 2 === 1 ? '*' : p)).join('/')}`;
      switch (route) {
        case 'POST jobs': return this.send(res, 200, this.jobResource(this.insertQuery(project, body)));
        case 'GET jobs/*': return this.send(res, 200, this.jobResource(this.job(project, rest[1])));
        case 'POST jobs/*/cancel': {
          const job = this.job(project, rest[1]);
          job.cancel?.(new ApiErr(400, 'Job execution was cancelled: User requested cancellation', 'stopped'));
          await Promise.race([job.done, new Promise((r) => setTimeout(r, 2000))]);
          return this.send(res, 200, { kind: 'bigquery#jobCancelResponse', job: this.jobResource(job) });
        }
        case 'GET queries/*': return this.send(res, 200, await this.queryResults(this.job(project, rest[1]), query));
        case 'POST queries': {
          const job = this.insertQuery(project, {
            jobReference: { projectId: project, jobId: `job_${Math.random().toString(36).slice(2)}`, location: body.location },
            configuration: { query: { query: body.query, useLegacySql: body.useLegacySql, queryParameters: body.queryParameters, maximumBytesBilled: body.maximumBytesBilled, parameterMode: body.parameterMode } },
          });
          const results = await this.queryResults(job, { ...query, timeoutMs: String(body.timeoutMs ?? 10000), maxResults: body.maxResults !== undefined ? String(body.maxResults) : query.maxResults, 'formatOptions.useInt64Timestamp': String(body.formatOptions?.useInt64Timestamp ?? false) });
          return this.send(res, 200, { ...results, kind: 'bigquery#queryResponse' });
        }
        case 'GET datasets/*': return this.send(res, 200, await this.dataset(project, rest[1]));
        case 'DELETE datasets/*': {
          await this.dataset(project, rest[1]);
          await this.withConnection(project, (c) => c.run(`drop schema ${duckName([project, rest[1]])}${query.deleteContents === 'true' ? ' cascade' : ''}`));
          for (const k of this.tables.keys()) if (k.startsWith(`${project}.${rest[1]}.`.toLowerCase())) this.tables.delete(k);
          res.writeHead(204).end();
          return;
        }
        case 'GET datasets/*/tables': return this.send(res, 200, await this.listTables(project, rest[1]));
        case 'GET datasets/*/tables/*': return this.send(res, 200, await this.table(project, rest[1], rest[3]));
        default: throw new ApiErr(404, `Not found: ${req.method} ${url.pathname} (the fake does not serve it)`, 'notFound');
      }
    } catch (e) {
      const err = e instanceof ApiErr ? e : new ApiErr(500, `fake BigQuery: ${(e as Error).message}`, 'internalError');
      this.send(res, err.code, err.body());
    }
  }

  private job(project: string, jobId: string): FakeJob {
    const job = this.jobs.get(`${project}:${jobId}`);
    if (!job) throw new ApiErr(404, `Not found: Job ${project}:${jobId}`, 'notFound');
    return job;
  }

  private jobResource(job: FakeJob): Record<string, unknown> {
    const o = job.outcome;
    const statistics: Record<string, unknown> = { creationTime: String(job.created), startTime: String(job.created) };
    if (job.state === 'DONE') statistics.endTime = String(job.ended ?? Date.now());
    if (o && job.configuration.query) {
      statistics.totalBytesProcessed = String(o.bytesProcessed);
      statistics.query = {
        statementType: o.statementType, totalBytesProcessed: String(o.bytesProcessed), totalBytesBilled: String(o.bytesBilled),
        totalSlotMs: String(Math.max(1, (job.ended ?? Date.now()) - job.created)), cacheHit: false, billingTier: 1,
        ...(o.dml !== undefined ? { numDmlAffectedRows: String(o.dml) } : {}),
      };
    }
    if (o && job.configuration.load) statistics.load = { outputRows: String(o.outputRows ?? 0), inputFiles: '1', inputFileBytes: String(o.inputBytes ?? 0), outputBytes: String(o.bytesProcessed), badRecords: '0' };
    return {
      kind: 'bigquery#job',
      etag: `"${job.jobId}"`,
      id: `${job.projectId}:${job.location}.${job.jobId}`,
      selfLink: `${this.url}/bigquery/v2/projects/${job.projectId}/jobs/${job.jobId}?location=${job.location}`,
      user_email: 'kiln-fake@kiln-test.iam.gserviceaccount.com',
      configuration: job.configuration,
      jobReference: { projectId: job.projectId, jobId: job.jobId, location: job.location },
      statistics,
      status: job.state === 'DONE'
        ? { state: 'DONE', ...(job.error ? { errorResult: job.error.errorProto(), errors: [job.error.errorProto()] } : {}) }
        : { state: 'RUNNING' },
    };
  }

  private newJob(project: string, ref: { jobId?: string; location?: string } | undefined, configuration: Record<string, any>): FakeJob {
    if (!this.projects.includes(project)) throw new ApiErr(404, `Not found: Project ${project}`, 'notFound');
    const jobId = ref?.jobId ?? `job_${Math.random().toString(36).slice(2)}`;
    if (this.jobs.has(`${project}:${jobId}`)) throw new ApiErr(409, `Already Exists: Job ${project}:${ref?.location ?? 'US'}.${jobId}`, 'duplicate');
    const job: FakeJob = { projectId: project, jobId, location: ref?.location ?? 'US', configuration, state: 'RUNNING', created: Date.now(), done: Promise.resolve() };
    this.jobs.set(`${project}:${jobId}`, job);
    return job;
  }

  private start(job: FakeJob, work: () => Promise<QueryOutcome>): void {
    let stop!: (e: ApiErr) => void;
    const stopped = new Promise<never>((_, reject) => (stop = reject));
    stopped.catch(() => undefined);
    job.cancel = (err) => {
      stop(err);
      try {
        job.conn?.interrupt();
      } catch {
        // the connection may be closed already
      }
    };
    const timeout = Number(job.configuration.jobTimeoutMs ?? 0);
    const timer = timeout > 0 ? setTimeout(() => job.cancel?.(new ApiErr(400, `Job timed out after ${timeout / 1000} sec`, 'timeout')), timeout) : undefined;
    job.done = (async () => {
      await new Promise((r) => setImmediate(r));
      try {
        job.outcome = await Promise.race([work(), stopped]);
      } catch (e) {
        job.error = e instanceof ApiErr ? e : new ApiErr(400, (e as Error).message, 'invalidQuery');
      } finally {
        if (timer) clearTimeout(timer);
        job.cancel = undefined;
        job.state = 'DONE';
        job.ended = Date.now();
      }
    })();
  }

  private insertQuery(project: string, body: Record<string, any>): FakeJob {
    const q = body?.configuration?.query;
    if (!q?.query) throw new ApiErr(400, 'Required parameter is missing: query', 'required');
    if (q.useLegacySql !== false) throw new ApiErr(400, 'The fake runs GoogleSQL only: set useLegacySql to false', 'invalid');
    const job = this.newJob(project, body.jobReference, body.configuration);
    this.start(job, () => this.runQuery(job, q));
    return job;
  }

  private insertLoad(project: string, metadata: Record<string, any>, data: Buffer): FakeJob {
    const load = metadata?.configuration?.load;
    if (!load?.destinationTable) throw new ApiErr(400, 'Required parameter is missing: destinationTable', 'required');
    const job = this.newJob(project, metadata.jobReference, metadata.configuration);
    this.start(job, () => this.runLoad(job, load, data));
    return job;
  }

  private async withConnection<T>(project: string, fn: (c: DuckDBConnection) => Promise<T>, job?: FakeJob): Promise<T> {
    const conn = await this.db.connect();
    if (job) job.conn = conn;
    try {
      await conn.run(`use ${duckName([project])}`);
      await conn.run(`set TimeZone = 'UTC'`);
      return await fn(conn);
    } finally {
      if (job) job.conn = undefined;
      conn.closeSync();
    }
  }

  /** Estimated bytes a statement reads: rows × columns × 8 of each table it names. */
  private async bytesRead(conn: DuckDBConnection, duckSql: string): Promise<number> {
    const names = new Set<string>();
    for (const m of duckSql.matchAll(/"((?:[^"]|"")+)"\."((?:[^"]|"")+)"\."((?:[^"]|"")+)"/g)) names.add(JSON.stringify([m[1], m[2], m[3]]));
    let total = 0;
    for (const n of names) {
      const [db, schema, table] = JSON.parse(n) as string[];
      const r = await conn.runAndReadAll('select estimated_size, column_count from duckdb_tables() where database_name = ? and schema_name = ? and table_name = ?', [db, schema, table]);
      const row = r.getRows()[0];
      if (row) total += Number(row[0]) * Number(row[1]) * 8;
    }
    return total;
  }

  private async runQuery(job: FakeJob, q: Record<string, any>): Promise<QueryOutcome> {
    const sql = String(q.query);
    const sleep = /\/\*\s*fake:sleep_ms=(\d+)\s*\*\//.exec(sql);
    if (sleep) await new Promise((r) => setTimeout(r, Number(sleep[1])));
    const statements = splitStatements(sql);
    const variables = new Set<string>();
    const params = (q.queryParameters ?? []).map((p: { parameterType: { type: string }; parameterValue?: { value?: string } }) => {
      const v = p.parameterValue?.value;
      if (v === undefined || v === null) return null;
      return ['INT64', 'INTEGER'].includes(p.parameterType.type) ? Number(v) : ['FLOAT64', 'FLOAT', 'NUMERIC'].includes(p.parameterType.type) ? Number(v) : p.parameterType.type === 'BOOL' ? v === 'true' : v;
    });
    return this.withConnection(job.projectId, async (conn) => {
      let outcome: QueryOutcome = { statementType: 'SELECT', bytesProcessed: 0, bytesBilled: 0 };
      let processed = 0;
      for (const st of statements) {
        const at = (line?: number, column?: number) => (line ? ` at [${st.line + line}:${column ?? 1}]` : '');
        let plan;
        try {
          plan = planStatement(st.sql, variables);
        } catch (e) {
          if (e instanceof TranslationError) throw new ApiErr(400, `${e.message}${at(e.line, e.column)}`, 'invalidQuery', 'query');
          throw e;
        }
        try {
          outcome = await this.runPlan(conn, plan, variables, params, st, q);
        } catch (e) {
          if (e instanceof ApiErr) throw e;
          throw this.describeDuckError(e as Error, st, job.location);
        }
        processed += outcome.bytesProcessed;
      }
      const billed = processed > 0 ? Math.max(10 * MiB, Math.ceil(processed / MiB) * MiB) : 0;
      const max = q.maximumBytesBilled !== undefined ? Number(q.maximumBytesBilled) : undefined;
      if (max !== undefined && billed > max) throw new ApiErr(400, `Query exceeded limit for bytes billed: ${max}. ${billed} or higher required.`, 'bytesBilledLimitExceeded');
      return { ...outcome, statementType: statements.length > 1 ? 'SCRIPT' : outcome.statementType, bytesProcessed: processed, bytesBilled: billed };
    }, job);
  }

  private async runPlan(
    conn: DuckDBConnection, plan: ReturnType<typeof planStatement>, variables: Set<string>, params: unknown[],
    st: { sql: string; line: number }, q: Record<string, any>,
  ): Promise<QueryOutcome> {
    const none: QueryOutcome = { statementType: 'OTHER', bytesProcessed: 0, bytesBilled: 0 };
    const key = (parts: readonly string[]) => parts.join('.').toLowerCase();
    switch (plan.kind) {
      case 'createSchema':
        this.checkProject(plan.parts[0]);
        await conn.run(`create schema ${plan.ifNotExists ? 'if not exists ' : ''}${duckName(plan.parts)}`);
        if (plan.options.location) this.datasetLocations.set(key(plan.parts), literalValue(plan.options.location));
        return { ...none, statementType: 'CREATE_SCHEMA' };
      case 'dropSchema':
        await conn.run(`drop schema ${plan.ifExists ? 'if exists ' : ''}${duckName(plan.parts)}${plan.cascade ? ' cascade' : ''}`);
        return { ...none, statementType: 'DROP_SCHEMA' };
      case 'copyTable': {
        const src = await conn.runAndReadAll('select sql from duckdb_tables() where database_name = ? and schema_name = ? and table_name = ?', plan.source);
        const ddl = src.getRows()[0]?.[0];
        if (!ddl) throw new ApiErr(404, `Not found: Table ${plan.source[0]}:${plan.source[1]}.${plan.source[2]}`, 'notFound');
        // DuckDB's own DDL of the source (constraints included), renamed to the target.
        const body = String(ddl).replace(/^CREATE TABLE\s+("(?:[^"]|"")*"|[^\s(]+)(\.("(?:[^"]|"")*"|[^\s(]+))*\s*/i, '');
        await conn.run(`begin transaction`);
        try {
          await conn.run(`create ${plan.replace ? 'or replace ' : ''}table ${duckName(plan.target)} ${body.replace(/;\s*$/, '')}`);
          await conn.run(`insert into ${duckName(plan.target)} select * from ${duckName(plan.source)}`);
          await conn.run('commit');
        } catch (e) {
          await conn.run('rollback');
          throw e;
        }
        const meta = this.tables.get(key(plan.source));
        this.tables.set(key(plan.target), meta ? structuredClone(meta) : { options: {}, columns: {} });
        return { ...none, statementType: 'CREATE_TABLE', bytesProcessed: await this.bytesRead(conn, duckName(plan.source)) };
      }
      case 'setOptions': {
        const meta = this.tables.get(key(plan.table)) ?? { options: {}, columns: {} };
        const exists = await conn.runAndReadAll('select 1 from information_schema.tables where table_catalog = ? and table_schema = ? and table_name = ?', plan.table);
        if (!exists.getRows().length) throw new ApiErr(404, `Not found: Table ${plan.table[0]}:${plan.table[1]}.${plan.table[2]}`, 'notFound');
        for (const [k, v] of Object.entries(plan.options)) {
          if (plan.column) {
            if (k === 'description') meta.columns[plan.column.toLowerCase()] = literalValue(v);
          } else if (k === 'description') meta.description = literalValue(v);
          else meta.options[k] = v;
        }
        this.tables.set(key(plan.table), meta);
        return { ...none, statementType: 'ALTER_TABLE' };
      }
      case 'declare':
        variables.add(plan.name);
        return { ...none, statementType: 'DECLARE' };
      case 'setVariable': {
        const r = await conn.runAndReadAll(plan.sql);
        const value = r.getRows()[0]?.[0];
        await conn.run(`set variable ${plan.name} = (${plan.sql})`);
        void value;
        return { ...none, statementType: 'SET', bytesProcessed: await this.bytesRead(conn, plan.sql) };
      }
      case 'sql': {
        if (plan.table) this.checkProject(plan.table[0]);
        const read = plan.statement === 'CREATE_VIEW' || plan.statement.startsWith('DROP') || plan.statement === 'ALTER_TABLE' || plan.statement === 'CREATE_TABLE' ? 0 : await this.bytesRead(conn, plan.sql);
        const result: DuckDBResultReader = params.length ? await conn.runAndReadAll(plan.sql, params as never) : await conn.runAndReadAll(plan.sql);
        if (plan.table && plan.tableOptions) this.tables.set(key(plan.table), { ...plan.tableOptions, columns: {} });
        if (plan.table && plan.statement.startsWith('DROP')) this.tables.delete(key(plan.table));
        if (plan.statement !== 'SELECT') {
          const names = result.columnNames();
          const count = names.length === 1 && names[0] === 'Count' ? Number(result.getRows()[0]?.[0] ?? 0) : undefined;
          const dml = ['INSERT', 'UPDATE', 'DELETE', 'MERGE'].includes(plan.statement) ? count : undefined;
          return { statementType: plan.statement, dml, bytesProcessed: read, bytesBilled: 0 };
        }
        const types = result.columnTypes();
        const schema = result.columnNames().map((n, i) => duckTypeToField(n, types[i].toString()));
        const useInt64 = true; // encoded as int64 micros; queryResults converts when the client asks for floats
        const rows = result.getRows().map((r) => ({ f: r.map((v, i) => ({ v: cell(v, schema[i], useInt64) })) }));
        void st;
        return { statementType: 'SELECT', schema, rows, bytesProcessed: read, bytesBilled: 0 };
      }
    }
  }

  private checkProject(project: string | undefined): void {
    if (project && !this.projects.includes(project)) throw new ApiErr(404, `Not found: Project ${project}`, 'notFound');
  }

  /** A DuckDB error in BigQuery's words, with the position in the statement where one can be found. */
  private describeDuckError(e: Error, st: { sql: string; line: number }, location: string): ApiErr {
    const msg = e.message.split('\n')[0];
    const position = (word: string): string => {
      const re = new RegExp(`(^|[^\\w\`])\`?${word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\`?(?![\\w])`, 'i');
      const idx = st.sql.search(re);
      if (idx < 0) return '';
      const start = idx + (/^[^\w`]/.test(st.sql.slice(idx)) ? 1 : 0);
      const before = st.sql.slice(0, start).split('\n');
      return ` at [${st.line + before.length}:${before[before.length - 1].length + 1}]`;
    };
    let m: RegExpExecArray | null;
    if ((m = /Referenced column "?([^"\s]+)"? (?:was )?not found/.exec(msg)) || (m = /Referenced table "?([^"\s]+)"? not found/.exec(msg))) {
      return new ApiErr(400, `Unrecognized name: ${m[1]}${position(m[1])}`, 'invalidQuery', 'query');
    }
    if ((m = /Table with name "?([^"\s!]+)"? does not exist/.exec(msg))) {
      return new ApiErr(404, `Not found: Table ${m[1]} was not found in location ${location}`, 'notFound');
    }
    if ((m = /Schema with name "?([^"\s!]+)"? does not exist/.exec(msg)) || (m = /Catalog "?([^"\s!]+)"? does not exist/.exec(msg))) {
      return new ApiErr(404, `Not found: Dataset ${m[1]} was not found in location ${location}`, 'notFound');
    }
    if ((m = /Could not convert string '([^']*)' to (\w+)/.exec(msg))) {
      const type = /INT/.test(m[2]) ? 'int64' : /DOUBLE|FLOAT/.test(m[2]) ? 'double' : m[2].toLowerCase();
      return new ApiErr(400, `Bad ${type} value: ${m[1]}`, 'invalidQuery', 'query');
    }
    if ((m = /NOT NULL constraint failed: [^.]+\.(\S+)/.exec(msg))) return new ApiErr(400, `Required field ${m[1]} cannot be null`, 'invalid');
    if (/INTERRUPT/i.test(msg)) return new ApiErr(400, 'Job execution was cancelled: User requested cancellation', 'stopped');
    return new ApiErr(400, msg.replace(/^[A-Za-z ]+ Error: /, ''), 'invalidQuery', 'query');
  }

  private async runLoad(job: FakeJob, load: Record<string, any>, data: Buffer): Promise<QueryOutcome> {
    const dest = load.destinationTable as { projectId: string; datasetId: string; tableId: string };
    const parts = [dest.projectId, dest.datasetId, dest.tableId];
    if (load.sourceFormat && load.sourceFormat !== 'CSV') throw new ApiErr(400, `The fake loads CSV only, not ${load.sourceFormat}`, 'invalid');
    const file = join(this.tmp, `${job.jobId}.csv`);
    writeFileSync(file, data);
    try {
      return await this.withConnection(dest.projectId, async (conn) => {
        const exists = await conn.runAndReadAll('select 1 from information_schema.tables where table_catalog = ? and table_schema = ? and table_name = ?', parts);
        if (!exists.getRows().length) {
          if (load.createDisposition === 'CREATE_NEVER') throw new ApiErr(404, `Not found: Table ${dest.projectId}:${dest.datasetId}.${dest.tableId}`, 'notFound');
          throw new ApiErr(400, 'The fake loads into existing tables only', 'invalid');
        }
        if (load.writeDisposition === 'WRITE_TRUNCATE') await conn.run(`delete from ${duckName(parts)}`);
        const fields = (load.schema?.fields ?? []) as { name: string }[];
        const cols = fields.length ? ` (${fields.map((f) => duckName([f.name])).join(', ')})` : '';
        const skip = Number(load.skipLeadingRows ?? 0);
        const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;
        const opts = [
          'format csv', `header ${skip >= 1 ? 'true' : 'false'}`, ...(skip > 1 ? [`skip ${skip - 1}`] : []),
          `delimiter ${lit(load.fieldDelimiter ?? ',')}`, `quote ${lit(load.quote ?? '"')}`, `escape ${lit(load.quote ?? '"')}`,
          `nullstr ${lit(load.nullMarker ?? '')}`,
        ];
        let count: number;
        try {
          const r = await conn.runAndReadAll(`copy ${duckName(parts)}${cols} from ${lit(file)} (${opts.join(', ')})`);
          count = Number(r.getRows()[0]?.[0] ?? 0);
        } catch (e) {
          throw new ApiErr(400, `Error while reading data, error message: ${(e as Error).message.split('\n')[0]}`, 'invalid');
        }
        return { statementType: 'LOAD', bytesProcessed: 0, bytesBilled: 0, outputRows: count, inputBytes: data.length };
      }, job);
    } finally {
      rmSync(file, { force: true });
    }
  }

  private async queryResults(job: FakeJob, query: Record<string, string>): Promise<Record<string, unknown>> {
    const wait = Math.min(Number(query.timeoutMs ?? 10_000), 10_000);
    if (job.state !== 'DONE') await Promise.race([job.done, new Promise((r) => setTimeout(r, wait))]);
    const ref = { projectId: job.projectId, jobId: job.jobId, location: job.location };
    if (job.state !== 'DONE') return { kind: 'bigquery#getQueryResultsResponse', etag: `"${job.jobId}"`, jobReference: ref, jobComplete: false };
    if (job.error) throw job.error;
    const o = job.outcome!;
    const out: Record<string, unknown> = {
      kind: 'bigquery#getQueryResultsResponse', etag: `"${job.jobId}"`, jobReference: ref, jobComplete: true, cacheHit: false,
      totalBytesProcessed: String(o.bytesProcessed),
    };
    if (o.dml !== undefined) out.numDmlAffectedRows = String(o.dml);
    if (o.schema) {
      let rows = o.rows ?? [];
      if (query['formatOptions.useInt64Timestamp'] !== 'true' && o.schema.some((f) => f.type === 'TIMESTAMP')) {
        rows = rows.map((r) => ({ f: (r as { f: { v: unknown }[] }).f.map((c, i) => ({ v: o.schema![i].type === 'TIMESTAMP' && typeof c.v === 'string' ? String(Number(c.v) / 1e6) : c.v })) }));
      }
      const start = Number(query.pageToken ?? query.startIndex ?? 0);
      const max = query.maxResults !== undefined ? Number(query.maxResults) : 100_000;
      const page = rows.slice(start, start + max);
      out.schema = { fields: o.schema };
      out.totalRows = String(rows.length);
      out.rows = page;
      if (start + max < rows.length) out.pageToken = String(start + max);
    }
    return out;
  }

  private async dataset(project: string, dataset: string): Promise<Record<string, unknown>> {
    this.checkProject(project);
    const found = await this.withConnection(project, async (c) => (await c.runAndReadAll('select 1 from information_schema.schemata where catalog_name = ? and schema_name = ?', [project, dataset])).getRows().length > 0);
    if (!found) throw new ApiErr(404, `Not found: Dataset ${project}:${dataset}`, 'notFound');
    return {
      kind: 'bigquery#dataset', id: `${project}:${dataset}`, datasetReference: { projectId: project, datasetId: dataset },
      location: this.datasetLocations.get(`${project}.${dataset}`.toLowerCase()) ?? 'US',
    };
  }

  private async listTables(project: string, dataset: string): Promise<Record<string, unknown>> {
    await this.dataset(project, dataset);
    const rows = await this.withConnection(project, async (c) => (await c.runAndReadAll(
      'select table_name, table_type from information_schema.tables where table_catalog = ? and table_schema = ? order by table_name', [project, dataset],
    )).getRows());
    return {
      kind: 'bigquery#tableList', totalItems: rows.length,
      tables: rows.map(([name, type]) => ({
        kind: 'bigquery#table', id: `${project}:${dataset}.${name}`,
        tableReference: { projectId: project, datasetId: dataset, tableId: String(name) },
        type: String(type) === 'VIEW' ? 'VIEW' : 'TABLE',
      })),
    };
  }

  /** tables.get: the schema from DuckDB's catalog, the BigQuery-only settings from the DDL that made it. */
  async table(project: string, dataset: string, table: string): Promise<Record<string, any>> {
    this.checkProject(project);
    const ref = [project, dataset, table];
    const { type, columns } = await this.withConnection(project, async (c) => {
      const t = (await c.runAndReadAll('select table_type from information_schema.tables where table_catalog = ? and table_schema = ? and table_name = ?', ref)).getRows()[0];
      const cols = (await c.runAndReadAll(
        'select column_name, data_type, is_nullable from information_schema.columns where table_catalog = ? and table_schema = ? and table_name = ? order by ordinal_position', ref,
      )).getRows();
      return { type: t?.[0], columns: cols };
    });
    if (!type) throw new ApiErr(404, `Not found: Table ${project}:${dataset}.${table}`, 'notFound');
    const meta = this.tables.get(ref.join('.').toLowerCase());
    const fields = columns.map(([name, dataType, nullable]) => {
      const f = duckTypeToField(String(name), String(dataType), String(nullable) === 'YES');
      const description = meta?.columns[String(name).toLowerCase()];
      return description ? { ...f, description } : f;
    });
    const out: Record<string, any> = {
      kind: 'bigquery#table', id: `${project}:${dataset}.${table}`, tableReference: { projectId: project, datasetId: dataset, tableId: table },
      type: String(type) === 'VIEW' ? 'VIEW' : 'TABLE', schema: { fields }, location: this.datasetLocations.get(`${project}.${dataset}`.toLowerCase()) ?? 'US',
    };
    if (meta?.description) out.description = meta.description;
    if (meta?.partitionBy) {
      const p = meta.partitionBy;
      const range = /^range_bucket\(\s*`?(\w+)`?\s*,\s*generate_array\(\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(\d+)\s*\)\s*\)$/i.exec(p);
      const trunc = /^(date|timestamp|datetime)_trunc\(\s*`?(\w+)`?\s*,\s*(\w+)\s*\)$/i.exec(p);
      if (range) out.rangePartitioning = { field: range[1], range: { start: range[2], end: range[3], interval: range[4] } };
      else if (trunc) out.timePartitioning = { type: trunc[3].toUpperCase(), field: trunc[2] };
      else out.timePartitioning = { type: 'DAY', field: p.replace(/`/g, '') };
    }
    if (meta?.clusterBy) out.clustering = { fields: meta.clusterBy };
    const o = meta?.options ?? {};
    if (o.require_partition_filter === 'true') out.requirePartitionFilter = true;
    if (o.partition_expiration_days && out.timePartitioning) out.timePartitioning.expirationMs = String(Number(o.partition_expiration_days) * 86_400_000);
    if (o.kms_key_name) out.encryptionConfiguration = { kmsKeyName: literalValue(o.kms_key_name) };
    if (o.labels) out.labels = Object.fromEntries([...o.labels.matchAll(/\(\s*('(?:[^'\\]|\\.)*')\s*,\s*('(?:[^'\\]|\\.)*')\s*\)/g)].map((x) => [literalValue(x[1]), literalValue(x[2])]));
    if (o.expiration_timestamp) out.expirationTime = String(Date.now() + 3_600_000);
    return out;
  }
}
