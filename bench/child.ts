/**
 * Runs the kiln CLI in this process and, at exit, writes what the benchmark needs to the file named by
 * KILN_BENCH_REPORT: exit code, peak RSS and CPU time.
 *
 *   KILN_BENCH_REPORT=/tmp/r.json node dist/bench/child.js compile --project-dir …
 *
 * Why a wrapper and not `/usr/bin/time -v`: process.resourceUsage() is the same getrusage(2) figure
 * (ru_maxrss) without depending on GNU time being installed or parsing its output, and the report is
 * written from the 'exit' event, so allocations made while kiln tears down are counted too.
 */
import { writeFileSync } from 'node:fs';
import { main } from '../src/cli/main.js';

export interface ChildReport {
  exitCode: number;
  /** Peak resident set size of this process, in KiB (Linux ru_maxrss). */
  maxRssKb: number;
  userMs: number;
  systemMs: number;
  /** Time since this process started (performance.timeOrigin), so Node's own startup is included. */
  wallMs: number;
  heapUsedMb: number;
}

const reportPath = process.env.KILN_BENCH_REPORT;

process.on('exit', (code) => {
  if (!reportPath) return;
  const ru = process.resourceUsage();
  const report: ChildReport = {
    exitCode: code,
    maxRssKb: ru.maxRSS,
    userMs: ru.userCPUTime / 1000,
    systemMs: ru.systemCPUTime / 1000,
    wallMs: performance.now(),
    heapUsedMb: process.memoryUsage().heapUsed / 2 ** 20,
  };
  writeFileSync(reportPath, JSON.stringify(report));
});

process.exitCode = await main(process.argv.slice(2));
