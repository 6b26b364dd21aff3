/**
 * A fake Snowflake service for tests: snowflake-sdk talks HTTP to it on 127.0.0.1 and it executes the SQL
 * on an in-memory DuckDB (translated in translate.ts). Test code only; it never ships.
 *
 * Endpoints (what snowflake-sdk 3.x calls):
 * - POST /session/v1/login-request → {success, data:{token, masterToken, sessionId, parameters, sessionInfo}};
 *   password, key-pair (the JWT's RS256 signature is checked against a registered public key) and OAuth
 *   token logins; wrong credentials answer code 390100. The login's database is attached on demand.
 * - POST /queries/v1/query-request (Authorization: Snowflake Token="…") → {success, data:{queryId, rowtype,
 *   rowset, total, returned, queryResultFormat:'json', statementTypeId}}; array binds run row by row in a
 *   prepared statement. A statement still running after `asyncAfterMs` answers code 333333 with a result
 *   URL, GET /queries/{id}/result then waits for it.
 * - POST /queries/{id}/abort-request, /queries/v1/abort-request: cancel (also `select system$cancel_query(id)`).
 * - POST /session?delete=true, /session/heartbeat, /telemetry/send.
 * Errors are HTTP 200 with success:false, code, message and data.sqlState, in Snowflake's words where the
 * DuckDB error has a Snowflake counterpart (invalid identifier with its line and position, object does not
 * exist, numeric value not recognized, NULL in a non-nullable column, canceled).
 *
 * Session statements are answered by the fake itself: `use warehouse|role|database|schema`,
 * `alter session (un)set query_tag|…`, `alter table … cluster by|resume recluster|suspend recluster`,
 * `current_warehouse()` and friends. `system$wait(n)` sleeps n seconds (cancellably), for cancellation tests.
 * Every request is logged (`requests`) with the session's warehouse and query tag at that moment.
 */
import { createHash, createPublicKey, randomUUID, verify } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { FUNCTION_MACROS, SF_TYPE_MACRO, translate } from './translate.js';

export interface FakeUser {
  password?: string;
  /** PEM public key for key-pair (SNOWFLAKE_JWT) logins. */
  publicKey?: string;
  oauthToken?: string;
}

export interface FakeRequest {
  method: string;
  path: string;
  /** For query requests: the SQL as received. */
  sqlText?: string;
  /** The DuckDB SQL it ran as (when translated). */
  translated?: string;
  /** Snowflake clauses the translation took out (transient, cluster by …). */
  stripped?: string[];
  bindings?: Record<string, { type: string; value: unknown }>;
  /** Rows bound (array binding), or 1. */
  bindRows?: number;
  authorized?: boolean;
  sessionId?: string;
  warehouse?: string;
  queryTag?: string;
  /** Statement parameters sent with the request (QUERY_TAG …). */
  parameters?: Record<string, unknown>;
  /** Login: the account, user, authenticator and session fields. */
  login?: { account?: string; user?: string; authenticator?: string; database?: string; schema?: string; warehouse?: string; role?: string };
  /** What the fake answered: success, or the error code. */
  outcome?: string;
  asyncExec?: boolean;
}

interface Session {
  id: string;
  token: string;
  masterToken: string;
  conn: DuckDBConnection;
  database: string;
  schema: string | null;
  warehouse: string | null;
  role: string;
  queryTag: string | null;
  user: string;
}

interface Running {
  promise: Promise<Answer>;
  done?: Answer;
  cancel: () => void;
  session: Session;
  sql: string;
}

type Answer = Record<string, unknown>;

export interface FakeSnowflakeOptions {
  /** Registered users; when none are, any user and password log in. */
  users?: Record<string, FakeUser>;
  /** Queries running longer answer 333333 and are polled (default 300 ms). */
  asyncAfterMs?: number;
}

export interface FakeSnowflake {
  url: string;
  port: number;
  requests: FakeRequest[];
  /** Query requests only, their SQL. */
  queries(): FakeRequest[];
  /** Run DuckDB SQL directly (assertions). */
  duckdb(sql: string): Promise<Record<string, unknown>[]>;
  addUser(name: string, user: FakeUser): void;
  close(): Promise<void>;
}

class SfError extends Error {
  constructor(message: string, readonly code: string, readonly sqlState: string) {
    super(message);
  }
}

const STATEMENT_TYPES = { select: 0x1000, insert: 0x3100, update: 0x3200, delete: 0x3300, merge: 0x3400, ddl: 0x6000 };

const unquoteName = (name: string) => (/^".*"$/.test(name) ? name.slice(1, -1).replace(/""/g, '"') : name.toUpperCase());
const sqlString = (s: string) => `'${s.replace(/'/g, "''")}'`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Line and position (Snowflake counts both from 1 and 0) of the first whole-word `name` in `sql`. */
function locate(sql: string, name: string): { line: number; position: number } | undefined {
  const re = new RegExp(`(^|[^A-Za-z0-9_$"])(${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')})(?![A-Za-z0-9_$])`, 'i');
  const m = re.exec(sql);
  if (!m) return undefined;
  const at = m.index + m[1].length;
  const before = sql.slice(0, at).split('\n');
  return { line: before.length, position: before[before.length - 1].length };
}

/** A DuckDB error in Snowflake's words, codes and SQLSTATEs. */
function snowflakeError(e: unknown, original: string): SfError {
  if (e instanceof SfError) return e;
  const msg = String((e as Error).message ?? e);
  let m = /Referenced column "?([^"\s]+)"? (?:was )?not found|column "?([^"\s]+)"? (?:not found|does not exist)|Referenced table "?([^"\s]+)"? not found/i.exec(msg);
  if (/Binder Error/i.test(msg) && m) {
    const name = (m[1] ?? m[2] ?? m[3])!;
    const at = locate(original, name);
    const where = at ? `error line ${at.line} at position ${at.position}` : 'error line 1 at position 0';
    return new SfError(`SQL compilation error: ${where}\ninvalid identifier '${name.toUpperCase()}'`, '000904', '42000');
  }
  m = /(?:Table|View|Schema|Catalog|Table Function) with name "?([^"\s]+)"? does not exist/i.exec(msg);
  if (m) {
    const kind = /Schema/i.test(msg) ? 'Schema' : /Catalog/i.test(msg) ? 'Database' : 'Object';
    return new SfError(`SQL compilation error:\n${kind} '${m[1].toUpperCase()}' does not exist or not authorized.`, '002003', '02000');
  }
  m = /Could not convert string '([^']*)' to/i.exec(msg);
  if (/Conversion Error/i.test(msg) && m) return new SfError(`Numeric value '${m[1]}' is not recognized`, '100038', '22018');
  if (/Constraint Error.*NOT NULL/i.test(msg)) {
    const col = /NOT NULL constraint failed: (\S+)/i.exec(msg)?.[1];
    return new SfError(`NULL result in a non-nullable column${col ? ` ${col.split('.').pop()}` : ''}`, '100072', '22000');
  }
  if (/Parser Error/i.test(msg)) return new SfError(`SQL compilation error:\nsyntax error line 1 at position 0 unexpected '${original.trim().split(/\s+/)[0]}'. (${msg.split('\n')[0]})`, '001003', '42000');
  if (/INTERRUPT|Interrupted/i.test(msg)) return new SfError('SQL execution canceled', '000604', '57014');
  return new SfError(`SQL execution error: ${msg.split('\n')[0]}`, '100000', 'XX000');
}

/** DuckDB type → Snowflake rowtype entry. */
function rowtypeOf(name: string, duckType: string): Record<string, unknown> {
  const t = duckType.toUpperCase();
  const base = { name, database: '', schema: '', table: '', nullable: true, collation: null, byteLength: null, length: null, precision: null, scale: null };
  const dec = /^DECIMAL\((\d+),\s*(\d+)\)$/.exec(t);
  if (dec) return { ...base, type: 'fixed', precision: Number(dec[1]), scale: Number(dec[2]) };
  if (/^(U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT))$/.test(t)) return { ...base, type: 'fixed', precision: 38, scale: 0 };
  if (t === 'FLOAT' || t === 'DOUBLE') return { ...base, type: 'real' };
  if (t === 'BOOLEAN') return { ...base, type: 'boolean' };
  if (t === 'DATE') return { ...base, type: 'date' };
  if (t === 'TIMESTAMP WITH TIME ZONE') return { ...base, type: 'timestamp_ltz', scale: 9 };
  if (t.startsWith('TIMESTAMP')) return { ...base, type: 'timestamp_ntz', scale: 9 };
  if (t.startsWith('TIME')) return { ...base, type: 'time', scale: 9 };
  if (t === 'VARCHAR') return { ...base, type: 'text', length: 16777216, byteLength: 16777216 };
  return { ...base, type: 'text', length: 16777216, byteLength: 16777216 };
}

/** DuckDB JSON value → Snowflake's JSON result text for the column type. */
function cell(v: unknown, type: string): string | null {
  if (v === null || v === undefined) return null;
  switch (type) {
    case 'boolean': return v === true || v === 'true' ? '1' : '0';
    case 'date': {
      const [y, mo, d] = String(v).split('-').map(Number);
      return String(Math.round(Date.UTC(y, mo - 1, d) / 86_400_000));
    }
    case 'timestamp_ntz': case 'timestamp_ltz': {
      const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([+-]\d{2})(?::?(\d{2}))?)?/.exec(String(v));
      if (!m) return String(v);
      let secs = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) / 1000;
      if (m[8]) secs -= (Number(m[8]) * 60 + Math.sign(Number(m[8]) || 1) * Number(m[9] ?? 0)) * 60;
      return `${secs}.${(m[7] ?? '').padEnd(9, '0').slice(0, 9)}`;
    }
    case 'time': {
      const m = /^(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?/.exec(String(v));
      return m ? `${+m[1] * 3600 + +m[2] * 60 + +m[3]}.${(m[4] ?? '').padEnd(9, '0')}` : String(v);
    }
    default:
      return typeof v === 'object' ? JSON.stringify(v) : String(v);
  }
}

function statementKind(sql: string): keyof typeof STATEMENT_TYPES {
  const w = /^\s*(?:\/\*[\s\S]*?\*\/\s*|--[^\n]*\n\s*)*(\w+)/.exec(sql)?.[1]?.toLowerCase() ?? '';
  if (w === 'select' || w === 'with' || w === 'show' || w === 'describe' || w === 'desc' || w === 'values') return 'select';
  if (w === 'insert' || w === 'update' || w === 'delete' || w === 'merge') return w;
  return 'ddl';
}

async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  let buf = Buffer.concat(chunks);
  if (/gzip/i.test(String(req.headers['content-encoding'] ?? '')) || (buf[0] === 0x1f && buf[1] === 0x8b)) buf = gunzipSync(buf);
  if (buf.length === 0) return {};
  try {
    return JSON.parse(buf.toString('utf8')) as Record<string, unknown>;
  } catch {
    return {};
  }
}

function b64url(s: string): Buffer {
  return Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

export async function startFakeSnowflake(opts: FakeSnowflakeOptions = {}): Promise<FakeSnowflake> {
  const instance = await DuckDBInstance.create(':memory:');
  const admin = await instance.connect();
  const attached = new Set<string>();
  const sessions = new Map<string, Session>();
  const running = new Map<string, Running>();
  const requests: FakeRequest[] = [];
  const users = new Map(Object.entries(opts.users ?? {}));
  const asyncAfter = opts.asyncAfterMs ?? 300;

  const attach = async (db: string) => {
    if (attached.has(db)) return;
    attached.add(db);
    await admin.run(`attach if not exists ':memory:' as "${db.replace(/"/g, '""')}"`);
  };

  const send = (res: ServerResponse, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(text);
  };
  const failure = (code: string, message: string, sqlState?: string, extra: Record<string, unknown> = {}) => ({
    success: false, code, message, data: { sqlState, errorCode: code, ...extra },
  });

  const sessionOf = (req: IncomingMessage): Session | undefined => {
    const auth = String(req.headers.authorization ?? '');
    const token = /Snowflake Token="([^"]+)"/.exec(auth)?.[1];
    return token ? [...sessions.values()].find((s) => s.token === token) : undefined;
  };

  async function login(body: Record<string, unknown>, url: URL): Promise<Answer> {
    const data = (body.data ?? {}) as Record<string, unknown>;
    const user = String(data.LOGIN_NAME ?? '');
    const authenticator = String(data.AUTHENTICATOR ?? 'SNOWFLAKE').toUpperCase();
    const registered = users.get(user) ?? users.get(user.toUpperCase());
    if (users.size > 0) {
      let ok = false;
      if (registered) {
        if (authenticator === 'SNOWFLAKE_JWT') {
          const [h, p, sig] = String(data.TOKEN ?? '').split('.');
          if (registered.publicKey && h && p && sig) {
            ok = verify('RSA-SHA256', Buffer.from(`${h}.${p}`), createPublicKey(registered.publicKey), b64url(sig));
            const claims = JSON.parse(b64url(p).toString('utf8')) as { sub?: string };
            ok &&= String(claims.sub ?? '').toUpperCase().endsWith(`.${user.toUpperCase()}`);
          }
        } else if (authenticator === 'OAUTH') {
          ok = registered.oauthToken !== undefined && data.TOKEN === registered.oauthToken;
        } else {
          ok = registered.password !== undefined && data.PASSWORD === registered.password;
        }
      }
      if (!ok) return failure('390100', 'Incorrect username or password was specified.', '08004');
    }
    const database = unquoteName(url.searchParams.get('databaseName') ?? 'KILN');
    const schemaParam = url.searchParams.get('schemaName');
    await attach(database);
    const conn = await instance.connect();
    for (const m of [SF_TYPE_MACRO, ...FUNCTION_MACROS]) await conn.run(m);
    const schema = schemaParam ? unquoteName(schemaParam) : null;
    await conn.run(`use "${database}"`);
    const session: Session = {
      id: String(Math.floor(Math.random() * 1e12)),
      token: `fake-token-${randomUUID()}`,
      masterToken: `fake-master-${randomUUID()}`,
      conn,
      database,
      schema,
      warehouse: url.searchParams.get('warehouse') ? unquoteName(url.searchParams.get('warehouse')!) : 'FAKE_WH',
      role: url.searchParams.get('roleName') ? unquoteName(url.searchParams.get('roleName')!) : 'PUBLIC',
      queryTag: null,
      user,
    };
    sessions.set(session.id, session);
    return {
      success: true, code: null, message: null,
      data: {
        token: session.token, masterToken: session.masterToken, validityInSeconds: 3600, masterValidityInSeconds: 14400,
        sessionId: Number(session.id), displayUserName: user, serverVersion: '9.0.0-fake', firstLogin: false, remMeToken: null,
        parameters: [{ name: 'TIMEZONE', value: 'UTC' }, { name: 'CLIENT_SESSION_KEEP_ALIVE_HEARTBEAT_FREQUENCY', value: 3600 }],
        sessionInfo: { databaseName: database, schemaName: schema, warehouseName: session.warehouse, roleName: session.role },
      },
    };
  }

  /** Statements the fake answers without DuckDB; undefined when DuckDB should run it. */
  function sessionStatement(s: Session, sql: string): string | undefined | SfError {
    const text = sql.trim().replace(/;\s*$/, '');
    let m = /^use\s+(warehouse|role|database|schema)?\s*([^\s;]+)$/i.exec(text);
    if (m) {
      const kind = (m[1] ?? 'database').toLowerCase();
      const name = unquoteName(m[2]);
      if (kind === 'warehouse') s.warehouse = name;
      else if (kind === 'role') s.role = name;
      else if (kind === 'database') s.database = name;
      else s.schema = name;
      return 'Statement executed successfully.';
    }
    m = /^alter\s+session\s+set\s+query_tag\s*=\s*'((?:[^']|'')*)'$/i.exec(text);
    if (m) {
      s.queryTag = m[1].replace(/''/g, "'");
      return 'Statement executed successfully.';
    }
    if (/^alter\s+session\s+unset\s+query_tag$/i.test(text)) {
      s.queryTag = null;
      return 'Statement executed successfully.';
    }
    if (/^alter\s+session\s+(un)?set\b/i.test(text)) return 'Statement executed successfully.';
    if (/^alter\s+table\s+\S+\s+(cluster\s+by\s*\(.*\)|drop\s+clustering\s+key|(resume|suspend)\s+recluster)$/is.test(text)) return 'Statement executed successfully.';
    m = /^select\s+system\$cancel_query\(\s*'([^']+)'\s*\)/i.exec(text);
    if (m) {
      const r = running.get(m[1]);
      r?.cancel();
      return r ? `query [${m[1]}] terminated.` : new SfError(`Identified SQL statement is not currently executing.`, '000605', '01000');
    }
    return undefined;
  }

  async function execute(s: Session, body: Record<string, unknown>, log: FakeRequest, signal: { cancelled: boolean; wake?: () => void }): Promise<Answer> {
    const queryId = String(body.__queryId);
    const original = String(body.sqlText ?? '');
    const special = sessionStatement(s, original);
    const base = (rowtype: Record<string, unknown>[], rowset: (string | null)[][], statementTypeId: number) => ({
      success: true, code: null, message: null,
      data: {
        queryId, rowtype, rowset, total: rowset.length, returned: rowset.length, queryResultFormat: 'json', statementTypeId, version: 1,
        parameters: [{ name: 'TIMEZONE', value: 'UTC' }],
        finalDatabaseName: s.database, finalSchemaName: s.schema, finalWarehouseName: s.warehouse, finalRoleName: s.role,
      },
    });
    const statusAnswer = (text: string) => base([{ ...rowtypeOf('status', 'VARCHAR') }], [[text]], STATEMENT_TYPES.ddl);
    if (special instanceof SfError) throw special;
    if (special !== undefined) return statusAnswer(special);

    // system$wait(n): sleep, cancellably (cancellation tests).
    let sql = original;
    const wait = /system\$wait\(\s*(\d+(?:\.\d+)?)\s*\)/i.exec(sql);
    if (wait) {
      const until = Date.now() + Number(wait[1]) * 1000;
      while (Date.now() < until) {
        if (signal.cancelled) throw new SfError('SQL execution canceled', '000604', '57014');
        await new Promise<void>((r) => {
          signal.wake = r;
          setTimeout(r, Math.min(100, until - Date.now()));
        });
      }
      sql = sql.replace(/system\$wait\(\s*(\d+(?:\.\d+)?)\s*\)/gi, "'waited'");
    }
    sql = sql
      .replace(/\bcurrent_warehouse\(\)/gi, s.warehouse ? sqlString(s.warehouse) : 'null')
      .replace(/\bcurrent_role\(\)/gi, sqlString(s.role))
      .replace(/\bcurrent_database\(\)/gi, sqlString(s.database))
      .replace(/\bcurrent_schema\(\)/gi, s.schema ? sqlString(s.schema) : 'null');
    if (/^\s*create\s+(or\s+replace\s+)?database\b/i.test(sql)) {
      const name = /database\s+(?:if\s+not\s+exists\s+)?(\S+)/i.exec(sql)![1];
      await attach(unquoteName(name));
      return statusAnswer(`Database ${unquoteName(name)} successfully created.`);
    }
    // DuckDB has no CLONE: the copy is made as a table of the same rows, then the source's not null columns.
    const clone = /^\s*create\s+or\s+replace\s+(?:transient\s+)?table\s+(.+?)\s+clone\s+(.+?)\s*;?\s*$/is.exec(sql);
    if (clone) {
      const qualified = (name: string) => /FROM\s+(.+)$/is.exec(translate(`select * from ${name}`, s.database).sql)![1].trim();
      const [target, source] = [qualified(clone[1]), qualified(clone[2])];
      log.translated = `create or replace table ${target} as select * from ${source}`;
      try {
        await s.conn.run(log.translated);
        const parts = [...source.matchAll(/"((?:[^"]|"")*)"/g)].map((m) => m[1].replace(/""/g, '"'));
        const notNull = await s.conn.runAndReadAll(
          'select column_name from duckdb_columns() where database_name = $1 and schema_name = $2 and table_name = $3 and not is_nullable',
          parts.slice(-3) as never,
        );
        for (const [col] of notNull.getRows()) await s.conn.run(`alter table ${target} alter column "${String(col).replace(/"/g, '""')}" set not null`);
      } catch (e) {
        throw snowflakeError(e, original);
      }
      return statusAnswer('Table successfully created.');
    }
    const t = translate(sql, s.database);
    log.translated = t.sql;
    log.stripped = t.stripped;
    const kind = statementKind(original);
    const bindings = body.bindings as Record<string, { type: string; value: unknown }> | undefined;
    const keys = bindings ? Object.keys(bindings).sort((a, b) => Number(a) - Number(b)) : [];
    const asText = (v: unknown) => (v === null || v === undefined ? null : typeof v === 'string' ? v : JSON.stringify(v));
    try {
      if (keys.length && Array.isArray(bindings![keys[0]].value)) {
        // Array binding: one statement, many rows.
        const rows = (bindings![keys[0]].value as unknown[]).length;
        log.bindRows = rows;
        const prepared = await s.conn.prepare(t.sql);
        let changed = 0;
        for (let i = 0; i < rows; i++) {
          if (signal.cancelled) throw new SfError('SQL execution canceled', '000604', '57014');
          prepared.bind(keys.map((k) => asText((bindings![k].value as unknown[])[i])) as never);
          changed += (await prepared.runAndReadAll()).rowsChanged;
        }
        return base([rowtypeOf('number of rows inserted', 'BIGINT')], [[String(changed)]], STATEMENT_TYPES[kind] ?? STATEMENT_TYPES.insert);
      }
      const values = keys.map((k) => asText(bindings![k].value));
      const reader = await s.conn.runAndReadAll(t.sql, values.length ? (values as never) : undefined);
      if (kind === 'select') {
        const names = reader.columnNames();
        const types = reader.columnTypes().map((x) => x.toString());
        const rowtype = names.map((n, i) => rowtypeOf(n, types[i]));
        const rowset = reader.getRowsJson().map((r) => r.map((v, i) => cell(v, rowtype[i].type as string)));
        return base(rowtype, rowset, STATEMENT_TYPES.select);
      }
      if (kind === 'ddl') {
        return statusAnswer(/^\s*create/i.test(original) ? 'Object successfully created.' : 'Statement executed successfully.');
      }
      const n = String(reader.rowsChanged);
      const column = { insert: 'number of rows inserted', update: 'number of rows updated', delete: 'number of rows deleted', merge: 'number of rows affected' }[kind];
      return base([rowtypeOf(column, 'BIGINT')], [[n]], STATEMENT_TYPES[kind]);
    } catch (e) {
      if (signal.cancelled) throw new SfError('SQL execution canceled', '000604', '57014');
      throw snowflakeError(e, original);
    }
  }

  async function queryRequest(req: IncomingMessage, body: Record<string, unknown>, log: FakeRequest): Promise<Answer> {
    const s = sessionOf(req);
    log.authorized = !!s;
    if (!s) return failure('390104', 'Authentication token has expired.  The user must authenticate again.', '08001');
    log.sessionId = s.id;
    log.sqlText = String(body.sqlText ?? '');
    log.asyncExec = body.asyncExec === true;
    if (body.bindings) log.bindings = body.bindings as FakeRequest['bindings'];
    if (body.parameters) log.parameters = body.parameters as Record<string, unknown>;
    const queryId = randomUUID();
    body.__queryId = queryId;
    const signal: { cancelled: boolean; wake?: () => void } = { cancelled: false };
    const r: Running = {
      session: s,
      sql: log.sqlText,
      cancel: () => {
        signal.cancelled = true;
        signal.wake?.();
        try {
          s.conn.interrupt();
        } catch {
          // nothing running in DuckDB
        }
      },
      promise: undefined as unknown as Promise<Answer>,
    };
    // Serialize per session, as Snowflake runs a session's statements in order.
    r.promise = execute(s, body, log, signal).then(
      (a) => a,
      (e: unknown) => {
        const err = e instanceof SfError ? e : snowflakeError(e, log.sqlText!);
        return failure(err.code, err.message, err.sqlState, { queryId });
      },
    ).then((a) => {
      r.done = a;
      log.outcome = a.success ? 'success' : String(a.code);
      log.warehouse = s.warehouse ?? undefined;
      log.queryTag = s.queryTag ?? undefined;
      return a;
    });
    running.set(queryId, r);
    log.warehouse = s.warehouse ?? undefined;
    log.queryTag = s.queryTag ?? undefined;
    const answer = await Promise.race([r.promise, sleep(asyncAfter).then(() => undefined)]);
    if (answer) {
      running.delete(queryId);
      return answer;
    }
    return { success: true, code: '333333', message: 'Query execution in progress', data: { queryId, getResultUrl: `/queries/${queryId}/result` } };
  }

  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const body = req.method === 'POST' ? await readBody(req) : {};
      const log: FakeRequest = { method: req.method ?? 'GET', path: url.pathname };
      requests.push(log);
      try {
        if (url.pathname === '/session/v1/login-request') {
          const data = (body.data ?? {}) as Record<string, unknown>;
          log.login = {
            account: data.ACCOUNT_NAME as string, user: data.LOGIN_NAME as string, authenticator: (data.AUTHENTICATOR as string) ?? 'SNOWFLAKE',
            database: url.searchParams.get('databaseName') ?? undefined, schema: url.searchParams.get('schemaName') ?? undefined,
            warehouse: url.searchParams.get('warehouse') ?? undefined, role: url.searchParams.get('roleName') ?? undefined,
          };
          const answer = await login(body, url);
          log.outcome = answer.success ? 'success' : String(answer.code);
          return send(res, answer);
        }
        if (url.pathname === '/queries/v1/query-request') return send(res, await queryRequest(req, body, log));
        let m = /^\/queries\/([^/]+)\/result$/.exec(url.pathname);
        if (m) {
          const r = running.get(m[1]);
          if (!r) return send(res, failure('000709', `Statement ${m[1]} not found`, '02000'));
          const answer = await Promise.race([r.promise, sleep(1000).then(() => undefined)]);
          if (!answer) return send(res, { success: true, code: '333333', message: 'Query execution in progress', data: { queryId: m[1], getResultUrl: `/queries/${m[1]}/result` } });
          running.delete(m[1]);
          return send(res, answer);
        }
        m = /^\/queries\/([^/]+)\/abort-request$/.exec(url.pathname);
        if (m || url.pathname === '/queries/v1/abort-request') {
          const id = m && m[1] !== 'v1' ? m[1] : undefined;
          const s = sessionOf(req);
          const targets = id ? [running.get(id)] : [...running.values()].filter((r) => r.session === s);
          for (const r of targets) r?.cancel();
          return send(res, { success: true, code: null, message: null, data: null });
        }
        if (url.pathname === '/session' && url.searchParams.get('delete') === 'true') {
          const s = sessionOf(req);
          if (s) {
            sessions.delete(s.id);
            s.conn.closeSync();
          }
          return send(res, { success: true, code: null, message: null, data: null });
        }
        if (url.pathname === '/session/heartbeat' || url.pathname === '/telemetry/send' || url.pathname === '/session/token-request') {
          return send(res, { success: true, code: null, message: null, data: url.pathname === '/session/token-request' ? { sessionToken: sessionOf(req)?.token, validityInSecondsST: 3600 } : null });
        }
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ success: false, code: '390404', message: `fake snowflake: no endpoint ${req.method} ${url.pathname}` }));
      } catch (e) {
        send(res, failure('000603', `fake snowflake internal error: ${(e as Error).message}`, 'XX000'));
      }
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    queries: () => requests.filter((r) => r.path === '/queries/v1/query-request'),
    async duckdb(sql) {
      const reader = await admin.runAndReadAll(sql);
      return reader.getRowObjectsJson() as Record<string, unknown>[];
    },
    addUser(name, user) {
      users.set(name, user);
    },
    async close() {
      for (const r of running.values()) r.cancel();
      server.closeAllConnections?.();
      await new Promise<void>((r) => server.close(() => r()));
      for (const s of sessions.values()) s.conn.closeSync();
      admin.closeSync();
      instance.closeSync();
    },
  };
}

/** A stable fingerprint of a request log for snapshots (no ids, no tokens). */
export function requestShape(r: FakeRequest): string {
  return `${r.method} ${r.path}${r.sqlText ? ` ${createHash('sha1').update(r.sqlText).digest('hex').slice(0, 8)}` : ''}`;
}
