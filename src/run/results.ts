/** What running one node produced, in dbt's run_results vocabulary. */

export type NodeStatus = 'success' | 'error' | 'skipped' | 'warn' | 'pass' | 'fail' | 'partial success';

export interface TimingInfo {
  name: 'compile' | 'execute';
  startedAt: string;
  completedAt: string;
}

export interface NodeResult {
  uniqueId: string;
  status: NodeStatus;
  message: string;
  /** Seconds, wall clock, compile and execute together. */
  executionTime: number;
  timing: TimingInfo[];
  adapterResponse: { _message?: string; rows_affected?: number; code?: string; [k: string]: unknown };
  failures: number | null;
  compiledCode?: string;
  relationName?: string;
  /** For errors: where (file:line) and what to do, already formatted. */
  errorDetail?: string;
  threadId: string;
  /** Tests: lines shown under the result line — the first failing rows as a table, a unit test's diff. */
  detail?: string;
  /** Microbatch models: which batch windows succeeded and which failed (run_results `batch_results`). */
  batchResults?: { successful: [string, string][]; failed: [string, string][] };
}

/** What running one data test or unit test found; the runner turns it into a NodeResult. */
export interface TestOutcome {
  /** pass, fail (severity error), warn (severity warn, or warn_if met); error is thrown, not returned. */
  status: 'pass' | 'fail' | 'warn';
  /** The fail_calc value (failing row count by default); for unit tests, rows that differ. */
  failures: number;
  /** Short result text: `PASS`, `FAIL 3`, `WARN 1`. */
  message: string;
  compiledCode?: string;
  /** Where the SQL that ran is, to rerun by hand (target/compiled/… or target/run/…). */
  compiledPath?: string;
  detail?: string;
}
