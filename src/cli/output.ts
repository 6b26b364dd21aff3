/**
 * Output for people and for CI. The text reporter prints one line per node start/finish with index,
 * relation, status, rows and duration, then a summary; the JSON reporter prints one object per event.
 */
import { formatWarning, resolveLocation, type KilnError, type Warning } from '../errors.js';
import type { NodeEventInfo, Reporter } from '../run/reporter.js';
import type { NodeResult } from '../run/results.js';
import type { BatchEvent } from '../run/microbatch.js';

export type LogFormat = 'text' | 'json';

export interface OutputStreams {
  out: (line: string) => void;
  err: (line: string) => void;
}

const stdStreams: OutputStreams = {
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
};

function clock(): string {
  return new Date().toTimeString().slice(0, 8);
}

function useColor(): boolean {
  return !!process.stdout.isTTY && !process.env.NO_COLOR;
}

const paint = (code: number) => (s: string) => (useColor() ? `\u001b[${code}m${s}\u001b[0m` : s);
const green = paint(32);
const red = paint(31);
const yellow = paint(33);

/** `1.2 KiB`, `10.0 MiB`: bytes in binary units with one decimal, as dbt-bigquery prints them. */
export function formatBytes(n: number): string {
  const units = ['Bytes', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

function dots(left: string, right: string, width = 80): string {
  const n = Math.max(3, width - left.length - right.length - 2);
  return `${left} ${'.'.repeat(n)} ${right}`;
}

type Counts = { PASS: number; WARN: number; ERROR: number; SKIP: number; TOTAL: number };

function count(c: Counts, r: NodeResult): void {
  c.TOTAL++;
  if (r.status === 'success' || r.status === 'pass') c.PASS++;
  else if (r.status === 'warn') c.WARN++;
  else if (r.status === 'error' || r.status === 'fail' || r.status === 'partial success') c.ERROR++;
  else if (r.status === 'skipped') c.SKIP++;
}

/** Counts per status word, as the summary line prints them. */
export function countResults(results: readonly NodeResult[]): Counts {
  const c = { PASS: 0, WARN: 0, ERROR: 0, SKIP: 0, TOTAL: 0 };
  for (const r of results) count(c, r);
  return c;
}

/** The same counts per resource type (`model`, `seed`, `test`, `unit_test`), from the unique ids. */
export function countByResourceType(results: readonly NodeResult[]): Record<string, Counts> {
  const out: Record<string, Counts> = {};
  for (const r of results) count((out[r.uniqueId.split('.')[0]] ??= { PASS: 0, WARN: 0, ERROR: 0, SKIP: 0, TOTAL: 0 }), r);
  return out;
}

const isTest = (e: NodeEventInfo) => e.node.resourceType === 'test' || e.node.resourceType === 'unit_test';

export class TextReporter implements Reporter {
  private readonly failures: { event: NodeEventInfo; result: NodeResult }[] = [];
  private readonly testWarnings: { event: NodeEventInfo; result: NodeResult }[] = [];

  constructor(
    private readonly quiet: boolean,
    private readonly debugOn: boolean,
    private readonly streams: OutputStreams = stdStreams,
  ) {}

  private line(s: string): void {
    if (!this.quiet) this.streams.out(`${clock()}  ${s}`);
  }

  info(message: string): void {
    this.line(message);
  }

  warn(w: Warning): void {
    this.streams.err(`${clock()}  ${yellow('Warning')}: ${formatWarning(w)}`);
  }

  debug(message: string): void {
    if (this.debugOn) this.line(message);
  }

  templateLog(level: 'info' | 'debug' | 'warn', message: string): void {
    if (level === 'warn') this.streams.err(`${clock()}  ${yellow('Warning')}: ${message}`);
    else if (level === 'info' || this.debugOn) this.line(message);
  }

  nodeStart(e: NodeEventInfo): void {
    this.line(dots(`${e.index} of ${e.total} START ${e.description}`, '[RUN]'));
  }

  nodeFinish(e: NodeEventInfo, r: NodeResult): void {
    const secs = `${r.executionTime.toFixed(2)}s`;
    if (r.status === 'skipped') {
      this.line(dots(`SKIP ${e.description}`, yellow('[SKIP]')));
      return;
    }
    if (isTest(e) && r.status !== 'error') {
      const word = r.status === 'pass' ? green('PASS') : r.status === 'warn' ? yellow('WARN') : red('FAIL');
      if (r.status === 'fail') this.failures.push({ event: e, result: r });
      if (r.status === 'warn') this.testWarnings.push({ event: e, result: r });
      const count = r.status === 'pass' ? '' : ` ${r.failures ?? ''}`;
      this.line(dots(`${e.index} of ${e.total} ${r.status === 'pass' ? 'PASS' : r.status.toUpperCase()}${count} ${e.description}`, `[${word}${count} in ${secs}]`));
      return;
    }
    if (r.status === 'partial success') {
      this.failures.push({ event: e, result: r });
      this.line(dots(`${e.index} of ${e.total} PARTIAL SUCCESS creating ${e.description}`, yellow(`[${r.message} in ${secs}]`)));
      return;
    }
    if (r.status === 'error' || r.status === 'fail') {
      this.failures.push({ event: e, result: r });
      this.line(dots(`${e.index} of ${e.total} ERROR ${isTest(e) ? 'running' : 'creating'} ${e.description}`, red(`[ERROR in ${secs}]`)));
      return;
    }
    const verb = e.node.resourceType === 'seed' ? 'loaded' : 'created';
    // The verb and row count, and a note the message carries in parentheses (an incremental's schema change).
    const note = /\s(\(.*\))$/.exec(r.message)?.[1];
    const resp = r.adapterResponse.rows_affected !== undefined ? `${r.message.split(' ')[0]} ${r.adapterResponse.rows_affected}${note ? ` ${note}` : ''}` : r.message;
    // Warehouses that bill by bytes scanned (BigQuery) report them: shown as dbt-bigquery does.
    const bytes = r.adapterResponse.bytes_processed;
    const scanned = typeof bytes === 'number' && r.adapterResponse.code !== 'LOAD' ? ` (${formatBytes(bytes)} processed)` : '';
    this.line(dots(`${e.index} of ${e.total} OK ${verb} ${e.description}`, green(`[${resp}${scanned} in ${secs}]`)));
  }

  batch(e: NodeEventInfo, b: BatchEvent): void {
    const secs = `${b.executionTime.toFixed(2)}s`;
    const word = b.status === 'success' ? green(`OK in ${secs}`) : red(`ERROR in ${secs}`);
    this.line(dots(`  batch ${b.index}/${b.total} of ${e.node.name} [${b.start}, ${b.end})`, `[${word}]`));
  }

  summary(results: readonly NodeResult[], elapsed: number): void {
    const c = countResults(results);
    this.line('');
    this.line(`Finished running ${results.length} node${results.length === 1 ? '' : 's'} in ${elapsed.toFixed(2)} seconds.`);
    if (this.failures.length === 0) {
      this.line(green(c.WARN ? `Completed with ${c.WARN} warning${c.WARN === 1 ? '' : 's'}` : 'Completed successfully'));
    } else {
      this.line(red(`Completed with ${this.failures.length} error${this.failures.length === 1 ? '' : 's'}${c.WARN ? ` and ${c.WARN} warning${c.WARN === 1 ? '' : 's'}` : ''}:`));
    }
    for (const { event, result } of this.testWarnings) this.explain(yellow('Warning'), event, result);
    for (const { event, result } of this.failures) this.explain(red(result.status === 'fail' ? 'Failure' : 'Error'), event, result);
    if (this.failures.length || this.testWarnings.length) this.streams.err('');
    this.line(`PASS=${c.PASS} WARN=${c.WARN} ERROR=${c.ERROR} SKIP=${c.SKIP} TOTAL=${c.TOTAL}`);
    const byType = Object.entries(countByResourceType(results));
    if (byType.length > 1) {
      for (const [type, t] of byType) {
        const parts = (['PASS', 'WARN', 'ERROR', 'SKIP'] as const).filter((k) => t[k]).map((k) => `${k}=${t[k]}`);
        this.line(`  ${type.padEnd(9)} ${parts.join(' ')}`);
      }
    }
  }

  /** A failed or warning node in the summary: what it is, where, and why (a test's failing rows). */
  private explain(label: string, event: NodeEventInfo, result: NodeResult): void {
    const n = event.node;
    this.streams.err('');
    if (result.status === 'fail' || result.status === 'warn') {
      const configured = n.resourceType === 'test' ? ` (configured to ${result.status === 'fail' ? `fail if ${String(n.config.error_if)}` : `warn if ${String(n.config.warn_if)}`})` : '';
      const what = n.resourceType === 'unit_test' ? `${result.failures} row${result.failures === 1 ? '' : 's'} differ` : `got ${result.failures} failing row${result.failures === 1 ? '' : 's'}${configured}`;
      this.streams.err(`${label} in ${n.resourceType} ${n.name} (${n.originalFilePath}): ${what}`);
      if (result.detail) this.streams.err(`  ${result.detail.split('\n').join('\n  ')}`);
      return;
    }
    this.streams.err(`${label} in ${n.resourceType} ${n.name} (${n.originalFilePath})`);
    this.streams.err(`  ${(result.errorDetail ?? result.message).split('\n').join('\n  ')}`);
  }
}

/** One JSON object per line on stdout: {ts, level, event, ...}. */
export class JsonReporter implements Reporter {
  constructor(
    private readonly debugOn: boolean,
    private readonly streams: OutputStreams = stdStreams,
  ) {}

  private emit(level: string, event: string, data: Record<string, unknown>): void {
    this.streams.out(JSON.stringify({ ts: new Date().toISOString(), level, event, ...data }));
  }

  info(message: string, data: Record<string, unknown> = {}): void {
    this.emit('info', 'message', { message, ...data });
  }

  warn(w: Warning): void {
    const loc = resolveLocation(w.location);
    this.emit('warn', 'warning', { message: w.message, file: loc?.file, line: loc?.line, column: loc?.column, hint: w.hint });
  }

  debug(message: string, data: Record<string, unknown> = {}): void {
    if (this.debugOn) this.emit('debug', 'message', { message, ...data });
  }

  templateLog(level: 'info' | 'debug' | 'warn', message: string, node?: string): void {
    if (level !== 'debug' || this.debugOn) this.emit(level, 'log', { message, node });
  }

  private nodeInfo(e: NodeEventInfo) {
    return {
      index: e.index,
      total: e.total,
      unique_id: e.node.uniqueId,
      resource_type: e.node.resourceType,
      name: e.node.name,
      materialized: e.node.config.materialized ?? null,
      relation: `${e.node.relation.schema}.${e.node.relation.identifier}`,
      file: e.node.originalFilePath,
    };
  }

  nodeStart(e: NodeEventInfo): void {
    this.emit('info', 'node_start', { node: this.nodeInfo(e) });
  }

  batch(e: NodeEventInfo, b: BatchEvent): void {
    this.emit(b.status === 'success' ? 'info' : 'error', 'batch_finish', {
      node: this.nodeInfo(e), batch: b.index, batches: b.total, event_time_start: b.start, event_time_end: b.end,
      status: b.status, execution_time: Number(b.executionTime.toFixed(4)), message: b.message,
    });
  }

  nodeFinish(e: NodeEventInfo, r: NodeResult): void {
    this.emit(r.status === 'error' || r.status === 'fail' ? 'error' : r.status === 'warn' ? 'warn' : 'info', 'node_finish', {
      node: this.nodeInfo(e),
      status: r.status,
      message: r.message,
      rows_affected: r.adapterResponse.rows_affected ?? null,
      execution_time: Number(r.executionTime.toFixed(4)),
      failures: r.failures,
      detail: r.detail ?? null,
      error: r.errorDetail ?? null,
    });
  }

  summary(results: readonly NodeResult[], elapsed: number): void {
    this.emit('info', 'summary', { ...countResults(results), by_resource_type: countByResourceType(results), elapsed_seconds: Number(elapsed.toFixed(3)) });
  }
}

/** Print a fatal error (config, compile, usage): formatted for people, or one JSON line with its parts. */
export function printFatal(format: LogFormat, error: KilnError, streams: OutputStreams = stdStreams): void {
  if (format === 'json') {
    const loc = error.location;
    streams.out(JSON.stringify({
      ts: new Date().toISOString(), level: 'error', event: 'error', kind: error.kind, message: error.message,
      file: loc?.file ?? null, line: loc?.line ?? null, column: loc?.column ?? null, hint: error.hint ?? null, node: error.node ?? null,
    }));
  } else streams.err(`${red('Error')}: ${error.format()}`);
}
