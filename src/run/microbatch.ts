/**
 * Microbatch models (incremental_strategy='microbatch'): the model's time range is cut into batches of
 * `batch_size` on its `event_time`; each batch compiles the model with its upstreams filtered to the batch's
 * window (upstreams that declare `event_time`; `ref('x').render()` opts out) and atomically replaces that
 * window of the target. A failed batch does not undo finished ones; the model is then a partial success, and
 * `kiln retry` reruns only the failed batches.
 *
 * Windows: `--event-time-start/--event-time-end` exactly; else from `begin` when the table is (re)built, or
 * the current batch and `lookback` batches before it on an incremental run.
 */
import type { Adapter, Connection } from '../adapter.js';
import { EventTimeFilteredRelation, Relation } from '../compile/relation.js';
import { KilnError, errorMessage } from '../errors.js';
import type { SeedNode, SourceNode, SqlNode } from '../project/nodes.js';
import { asDatabaseError, relationRef, withHooks, writeRunFile, type ExecuteOutcome, type ExecuteServices } from './executeNode.js';
import { buildIncremental, needsFullBuild } from './incremental.js';
import { assertContract, buildWithContract } from './contracts.js';
import { contractSpec } from '../project/contracts.js';
import type { SqlLog } from './materialize.js';

export type BatchSize = 'hour' | 'day' | 'month' | 'year';
const BATCH_SIZES: readonly BatchSize[] = ['hour', 'day', 'month', 'year'];

/** One batch's half-open window [start, end), as ISO timestamps without a zone (UTC). */
export interface BatchWindow {
  start: string;
  end: string;
}

export interface BatchResult extends BatchWindow {
  status: 'success' | 'error';
  executionTime: number;
  message: string;
}

/** A finished batch, for progress output (`batch 7/31`). */
export interface BatchEvent extends BatchResult {
  index: number;
  total: number;
}

/** `2024-01-01` or `2024-01-01T05:00:00` (UTC) → a Date; undefined when it is not a date. */
export function parseEventTime(value: unknown): Date | undefined {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value;
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}([ T]\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?)?Z?$/.test(value.trim())) return undefined;
  const text = value.trim().replace(' ', 'T');
  const d = new Date(text.length === 10 ? `${text}T00:00:00Z` : text.endsWith('Z') ? text : `${text}Z`);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

export function formatEventTime(d: Date): string {
  return d.toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, '');
}

function truncate(d: Date, size: BatchSize): Date {
  const t = new Date(d.getTime());
  t.setUTCMinutes(0, 0, 0);
  if (size !== 'hour') t.setUTCHours(0);
  if (size === 'month' || size === 'year') t.setUTCDate(1);
  if (size === 'year') t.setUTCMonth(0);
  return t;
}

function add(d: Date, size: BatchSize, n: number): Date {
  const t = new Date(d.getTime());
  if (size === 'hour') t.setUTCHours(t.getUTCHours() + n);
  else if (size === 'day') t.setUTCDate(t.getUTCDate() + n);
  else if (size === 'month') t.setUTCMonth(t.getUTCMonth() + n);
  else t.setUTCFullYear(t.getUTCFullYear() + n);
  return t;
}

/** The batches covering [start, end): from the batch holding `start` to the one holding the last instant. */
export function batchWindows(start: Date, end: Date, size: BatchSize): BatchWindow[] {
  const out: BatchWindow[] = [];
  for (let t = truncate(start, size); t < end; t = add(t, size, 1)) {
    out.push({ start: formatEventTime(t), end: formatEventTime(add(t, size, 1)) });
  }
  return out;
}

interface MicrobatchConfig {
  eventTime: string;
  batchSize: BatchSize;
  begin?: Date;
  lookback: number;
  concurrent: boolean;
}

function microbatchConfig(node: SqlNode): MicrobatchConfig {
  const fail = (message: string, hint: string) => new KilnError('compile', `microbatch model '${node.name}' ${message}`, {
    location: { file: node.originalFilePath }, node: node.uniqueId, hint,
  });
  const c = node.config;
  if (typeof c.event_time !== 'string' || !c.event_time) throw fail('has no event_time', "Name the model's time column: {{ config(event_time='ordered_at') }}.");
  const batchSize = String(c.batch_size ?? '');
  if (!(BATCH_SIZES as readonly string[]).includes(batchSize)) throw fail(`has batch_size '${batchSize}'`, `Use one of: ${BATCH_SIZES.join(', ')}.`);
  const begin = c.begin === undefined || c.begin === null ? undefined : parseEventTime(c.begin);
  if (c.begin !== undefined && c.begin !== null && !begin) throw fail(`has begin '${String(c.begin)}', which is not a date`, "Write it as '2024-01-01' or '2024-01-01T00:00:00'.");
  const lookback = c.lookback === undefined || c.lookback === null ? 1 : Number(c.lookback);
  if (!Number.isInteger(lookback) || lookback < 0) throw fail(`has lookback '${String(c.lookback)}'`, 'lookback is a whole number of batches (default 1).');
  return { eventTime: c.event_time, batchSize: batchSize as BatchSize, begin, lookback, concurrent: c.concurrent_batches === true };
}

/** The one model whose batches are running side by side (see executeMicrobatch). */
let concurrentModel: string | undefined;

/**
 * A batch bound as SQL: an untyped literal with an explicit UTC offset, which the warehouse reads as the
 * column's type — exact for timestamptz columns whatever the session's time zone, and the same instant for
 * timestamp and date columns (dbt writes its event-time filters the same way).
 */
const timestampLiteral = (iso: string) => `'${iso}+00:00'`;

/** What the runner asks of a microbatch model: an explicit window, or the batches to retry. */
export interface MicrobatchRequest {
  eventTimeStart?: Date;
  eventTimeEnd?: Date;
  /** `kiln retry`: exactly these batches. */
  batches?: BatchWindow[];
  now?: Date;
}

async function compileBatch(services: ExecuteServices, conn: Connection, node: SqlNode, cfg: MicrobatchConfig, w: BatchWindow, incremental: boolean) {
  const adapter: Adapter = services.adapter;
  const filter = (base: Relation, upstream: SqlNode | SeedNode | SourceNode): Relation | undefined => {
    const col = upstream.config.event_time;
    if (typeof col !== 'string' || !col) return undefined;
    return new EventTimeFilteredRelation(base, adapter, col, timestampLiteral(w.start), timestampLiteral(w.end));
  };
  return services.compiler.compileWithInputs(node, {
    ref: (_call, target) => filter(services.compiler.relationFor(target), target),
    source: (_s, _t, src) => filter(Relation.of(src.relation, 'table', adapter), src),
    ctes: [],
    isIncremental: incremental,
    connection: conn,
    batch: { id: w.start.replace(/[-: ]/g, '').replace(/0000$/, ''), event_time_start: w.start, event_time_end: w.end },
  });
}

/** Run a microbatch model: hooks around all batches, the first batch builds the table when it must. */
export async function executeMicrobatch(
  services: ExecuteServices, node: SqlNode, request: MicrobatchRequest, onBatch?: (e: BatchEvent) => void,
): Promise<ExecuteOutcome & { batchResults: BatchResult[] }> {
  const cfg = microbatchConfig(node);
  const statements: string[] = [];
  const log: SqlLog = (sql) => statements.push(sql);
  const target = relationRef(node);
  const results: BatchResult[] = [];
  const compileStartedAt = new Date().toISOString();
  try {
    return await services.adapter.withConnection(async (conn) => {
      const compiled = await services.compiler.compile(node, conn);
      const compileCompletedAt = new Date().toISOString();
      // An enforced contract is checked once, on the model's whole query, before any batch runs.
      const contract = contractSpec(node);
      if (contract) await assertContract(services.adapter, conn, node, contract, compiled.sql, compiled.sqlHeader, log);
      const fullBuild = await needsFullBuild(services, conn, node, target);
      const now = request.now ?? new Date();
      let windows: BatchWindow[];
      if (request.batches) windows = request.batches;
      else if (request.eventTimeStart || request.eventTimeEnd) {
        const start = request.eventTimeStart ?? cfg.begin;
        if (!start) throw new KilnError('usage', `--event-time-end needs --event-time-start for '${node.name}', which has no begin config`, { node: node.uniqueId });
        windows = batchWindows(start, request.eventTimeEnd ?? now, cfg.batchSize);
      } else if (fullBuild) {
        if (!cfg.begin) {
          throw new KilnError('compile', `microbatch model '${node.name}' has no begin, so its first build has no start`, {
            location: { file: node.originalFilePath }, node: node.uniqueId,
            hint: "Set begin: {{ config(begin='2024-01-01') }}, or pass --event-time-start.",
          });
        }
        windows = batchWindows(cfg.begin, now, cfg.batchSize);
      } else {
        windows = batchWindows(add(truncate(now, cfg.batchSize), cfg.batchSize, -cfg.lookback), now, cfg.batchSize);
      }
      const total = windows.length;
      // A retry adds to the table the first run built, even if that run was a full refresh.
      const existing = await services.relations.get(target, conn);
      let built = request.batches ? existing?.kind === 'table' : !fullBuild;
      const builtBefore = built;

      const runBatch = async (c: Connection, w: BatchWindow, index: number): Promise<void> => {
        const t0 = performance.now();
        const batchLog: SqlLog = (sql) => log(sql);
        batchLog(`-- batch ${index}/${total}: [${w.start}, ${w.end})`);
        let last: string | undefined;
        let sql: string | undefined;
        try {
          const batchSql = await compileBatch(services, c, node, cfg, w, built);
          sql = batchSql.sql;
          const tracked: SqlLog = (s) => {
            last = s;
            batchLog(s);
          };
          const res = built
            ? await buildIncremental(services, c, node, target, sql, {
              sqlHeader: batchSql.sqlHeader, config: node.config, incrementalOnly: true, stagingSuffix: `__kiln_b${index}`,
              windowPredicates: [`DBT_INTERNAL_DEST.${cfg.eventTime} >= ${timestampLiteral(w.start)}`, `DBT_INTERNAL_DEST.${cfg.eventTime} < ${timestampLiteral(w.end)}`],
            }, tracked)
            : contract
              ? await buildWithContract(services, c, node, contract, 'table', target, sql, { sqlHeader: batchSql.sqlHeader, config: node.config }, tracked)
              : await services.materializer.fromSelect(c, 'table', target, sql, { sqlHeader: batchSql.sqlHeader, config: node.config }, tracked);
          built = true;
          const r: BatchResult = { ...w, status: 'success', executionTime: (performance.now() - t0) / 1000, message: res.message };
          results.push(r);
          onBatch?.({ ...r, index, total });
        } catch (e) {
          const err = asDatabaseError(e, node, last, services, sql);
          const r: BatchResult = { ...w, status: 'error', executionTime: (performance.now() - t0) / 1000, message: err.message };
          results.push(r);
          onBatch?.({ ...r, index, total });
        }
      };

      // Hooks (and grants) once around all batches: each batch commits on its own.
      const result = await withHooks(services, conn, node, log, async (afterBatches) => {
        // The first batch builds the table when there is none; the rest may then run side by side.
        let i = 0;
        // Until a batch has built the table, batches run one at a time: each would otherwise replace it.
        while (!built && i < windows.length) await runBatch(conn, windows[i], ++i);
        const rest = windows.slice(i).map((w, k) => ({ w, index: i + k + 1 }));
        // Side by side on other pooled connections, when there are any and no other model is doing the same:
        // a model holding a connection while waiting for more must be the only one, or two could deadlock.
        const extra = Math.max(0, (services.threads ?? 1) - 1);
        if (cfg.concurrent && extra > 0 && rest.length > 1 && !concurrentModel) {
          concurrentModel = node.uniqueId;
          try {
            let next = 0;
            const worker = async () => {
              while (next < rest.length) {
                const { w, index } = rest[next++];
                await services.adapter.withConnection((c) => runBatch(c, w, index));
              }
            };
            await Promise.all(Array.from({ length: Math.min(extra, rest.length) }, worker));
          } finally {
            concurrentModel = undefined;
          }
        } else {
          for (const { w, index } of rest) await runBatch(conn, w, index);
        }
        if (built) await afterBatches({ fresh: !builtBefore });
        return { message: `${results.filter((r) => r.status === 'success').length}/${total} batches` };
      });
      results.sort((a, b) => a.start.localeCompare(b.start));
      return { ...result, compiledCode: compiled.sql, compileStartedAt, compileCompletedAt, batchResults: results };
    });
  } catch (e) {
    if (e instanceof KilnError) throw e;
    throw new KilnError('runtime', errorMessage(e), { node: node.uniqueId });
  } finally {
    if (statements.length) writeRunFile(services, node, statements);
  }
}
