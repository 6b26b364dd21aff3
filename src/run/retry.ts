/**
 * `kiln retry`: what the previous run left to do, read from its run_results.json — the nodes that failed or
 * were skipped, the command and options it ran with, and, for a microbatch model that partly succeeded, the
 * batch windows that failed (only those run again, for the original window, not "today").
 */
import { existsSync, readFileSync } from 'node:fs';
import { KilnError } from '../errors.js';
import type { BatchWindow } from './microbatch.js';

/** Commands whose runs can be retried, and what each runs. */
export const RETRYABLE = ['run', 'build', 'test', 'seed', 'snapshot'] as const;
export type RetryableCommand = (typeof RETRYABLE)[number];

const REDO = new Set(['error', 'fail', 'skipped', 'partial success', 'runtime error']);

export interface RetryPlan {
  command: RetryableCommand;
  /** Unique ids to run again, in the order the previous run listed them. */
  uniqueIds: string[];
  retryBatches: Map<string, BatchWindow[]>;
  /** The previous run's options. */
  args: {
    vars: Record<string, unknown>;
    target?: string;
    threads?: number;
    fullRefresh: boolean;
    failFast: boolean;
    storeFailures: boolean;
    eventTimeStart?: string;
    eventTimeEnd?: string;
  };
}

interface StoredResult {
  unique_id: string;
  status: string;
  batch_results?: { successful: [string, string][]; failed: [string, string][] } | null;
}

export function readRetryPlan(runResultsPath: string, displayPath: string): RetryPlan {
  if (!existsSync(runResultsPath)) {
    throw new KilnError('usage', `there is no previous run to retry (${displayPath} does not exist)`, {
      hint: 'Run kiln build, run, test, seed or snapshot first.',
    });
  }
  let data: { results?: StoredResult[]; args?: Record<string, unknown> };
  try {
    data = JSON.parse(readFileSync(runResultsPath, 'utf8')) as typeof data;
  } catch (e) {
    throw new KilnError('usage', `${displayPath} is not readable JSON: ${(e as Error).message}`, { hint: 'Run the command again instead of retrying it.' });
  }
  const args = data.args ?? {};
  const which = String(args.which ?? '');
  if (!(RETRYABLE as readonly string[]).includes(which)) {
    throw new KilnError('usage', `the previous command was '${which || 'unknown'}', which kiln retry cannot rerun`, {
      hint: `kiln retry reruns ${RETRYABLE.join(', ')}.`,
    });
  }
  const results = data.results ?? [];
  const redo = results.filter((r) => REDO.has(r.status));
  const retryBatches = new Map<string, BatchWindow[]>();
  for (const r of redo) {
    if (r.status === 'partial success' && r.batch_results?.failed?.length) {
      retryBatches.set(r.unique_id, r.batch_results.failed.map(([start, end]) => ({ start, end })));
    }
  }
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  return {
    command: which as RetryableCommand,
    uniqueIds: redo.map((r) => r.unique_id),
    retryBatches,
    args: {
      vars: (args.vars as Record<string, unknown>) ?? {},
      target: str(args.target),
      threads: typeof args.threads === 'number' ? args.threads : undefined,
      fullRefresh: args.full_refresh === true,
      failFast: args.fail_fast === true,
      storeFailures: args.store_failures === true,
      eventTimeStart: str(args.event_time_start),
      eventTimeEnd: str(args.event_time_end),
    },
  };
}
