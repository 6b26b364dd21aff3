/** What running one node produced, in dbt's run_results vocabulary. */

export type NodeStatus = 'success' | 'error' | 'skipped' | 'warn' | 'pass' | 'fail';

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
}
