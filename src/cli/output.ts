/**
 * Output for people and for CI. The text reporter prints one line per node start/finish with index,
 * relation, status, rows and duration, then a summary; the JSON reporter prints one object per event.
 */
import { formatWarning, type KilnError, type Warning } from '../errors.js';
import type { NodeEventInfo, Reporter } from '../run/reporter.js';
import type { NodeResult } from '../run/results.js';

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

function dots(left: string, right: string, width = 80): string {
  const n = Math.max(3, width - left.length - right.length - 2);
  return `${left} ${'.'.repeat(n)} ${right}`;
}

/** Counts per status word, as the summary line prints them. */
export function countResults(results: readonly NodeResult[]) {
  const c = { PASS: 0, WARN: 0, ERROR: 0, SKIP: 0, TOTAL: results.length };
  for (const r of results) {
    if (r.status === 'success' || r.status === 'pass') c.PASS++;
    else if (r.status === 'warn') c.WARN++;
    else if (r.status === 'error' || r.status === 'fail') c.ERROR++;
    else if (r.status === 'skipped') c.SKIP++;
  }
  return c;
}

export class TextReporter implements Reporter {
  private readonly failures: { event: NodeEventInfo; result: NodeResult }[] = [];

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
    if (r.status === 'error' || r.status === 'fail') {
      this.failures.push({ event: e, result: r });
      this.line(dots(`${e.index} of ${e.total} ERROR creating ${e.description}`, red(`[ERROR in ${secs}]`)));
      return;
    }
    const verb = e.node.resourceType === 'seed' ? 'loaded' : 'created';
    const resp = r.adapterResponse.rows_affected !== undefined ? `${r.message.split(' ')[0]} ${r.adapterResponse.rows_affected}` : r.message;
    this.line(dots(`${e.index} of ${e.total} OK ${verb} ${e.description}`, green(`[${resp} in ${secs}]`)));
  }

  summary(results: readonly NodeResult[], elapsed: number): void {
    const c = countResults(results);
    this.line('');
    this.line(`Finished running ${results.length} node${results.length === 1 ? '' : 's'} in ${elapsed.toFixed(2)} seconds.`);
    if (this.failures.length === 0) {
      this.line(green(c.WARN ? `Completed with ${c.WARN} warning${c.WARN === 1 ? '' : 's'}` : 'Completed successfully'));
    } else {
      this.line(red(`Completed with ${this.failures.length} error${this.failures.length === 1 ? '' : 's'}:`));
      for (const { event, result } of this.failures) {
        this.streams.err('');
        this.streams.err(`${red('Error')} in ${event.node.resourceType} ${event.node.name} (${event.node.originalFilePath})`);
        this.streams.err(`  ${(result.errorDetail ?? result.message).split('\n').join('\n  ')}`);
      }
      this.streams.err('');
    }
    this.line(`PASS=${c.PASS} WARN=${c.WARN} ERROR=${c.ERROR} SKIP=${c.SKIP} TOTAL=${c.TOTAL}`);
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
    this.emit('warn', 'warning', { message: w.message, file: w.location?.file, line: w.location?.line, column: w.location?.column, hint: w.hint });
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

  nodeFinish(e: NodeEventInfo, r: NodeResult): void {
    this.emit(r.status === 'error' ? 'error' : 'info', 'node_finish', {
      node: this.nodeInfo(e),
      status: r.status,
      message: r.message,
      rows_affected: r.adapterResponse.rows_affected ?? null,
      execution_time: Number(r.executionTime.toFixed(4)),
      error: r.errorDetail ?? null,
    });
  }

  summary(results: readonly NodeResult[], elapsed: number): void {
    this.emit('info', 'summary', { ...countResults(results), elapsed_seconds: Number(elapsed.toFixed(3)) });
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
