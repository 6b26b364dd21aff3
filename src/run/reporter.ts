/**
 * Progress events from the runner. The CLI renders them for a person (one line per node start/finish and a
 * summary) or as JSON lines for CI; tests collect them. The runner never prints by itself.
 */
import type { Warning } from '../errors.js';
import type { GraphNode } from '../project/nodes.js';
import type { NodeResult } from './results.js';
import type { BatchEvent } from './microbatch.js';

export interface NodeEventInfo {
  index: number;
  total: number;
  node: GraphNode;
  /** What is being built, in words: `view model main.orders`. */
  description: string;
}

export interface Reporter {
  info(message: string, data?: Record<string, unknown>): void;
  warn(warning: Warning): void;
  debug(message: string, data?: Record<string, unknown>): void;
  nodeStart(e: NodeEventInfo): void;
  nodeFinish(e: NodeEventInfo, result: NodeResult): void;
  /** One batch of a microbatch model finished (`batch 7/31`). */
  batch(e: NodeEventInfo, batch: BatchEvent): void;
  /** A line a macro logged with log(msg, info=True) or print(). */
  templateLog(level: 'info' | 'debug' | 'warn', message: string, node?: string): void;
  summary(results: readonly NodeResult[], elapsedSeconds: number): void;
}

/** Reporter that records events (tests, and the JSON summary builder). */
export class MemoryReporter implements Reporter {
  readonly lines: { event: string; data: unknown }[] = [];
  info(message: string, data?: Record<string, unknown>) { this.lines.push({ event: 'info', data: { message, ...data } }); }
  warn(warning: Warning) { this.lines.push({ event: 'warn', data: warning }); }
  debug(message: string) { this.lines.push({ event: 'debug', data: { message } }); }
  nodeStart(e: NodeEventInfo) { this.lines.push({ event: 'nodeStart', data: { id: e.node.uniqueId } }); }
  nodeFinish(e: NodeEventInfo, r: NodeResult) { this.lines.push({ event: 'nodeFinish', data: { id: e.node.uniqueId, status: r.status } }); }
  batch(e: NodeEventInfo, b: BatchEvent) { this.lines.push({ event: 'batch', data: { id: e.node.uniqueId, index: b.index, status: b.status } }); }
  templateLog(level: string, message: string) { this.lines.push({ event: 'log', data: { level, message } }); }
  summary(results: readonly NodeResult[]) { this.lines.push({ event: 'summary', data: { count: results.length } }); }
}
