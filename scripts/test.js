#!/usr/bin/env node
// `npm test`: build the CLI (end-to-end tests run bin/kiln.js), run vitest, and end with one plain line
// "N passed, N failed" that CI's test counter reads.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => join(root, 'node_modules', '.bin', name);
const run = (cmd, args) => spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: process.env });

// Build the package, then typecheck the tests against it (vitest itself does not typecheck).
const build = run(bin('tsc'), ['-p', 'tsconfig.json']);
const typecheck = build.status === 0 ? run(bin('tsc'), ['-p', 'test/tsconfig.json']) : build;
if (build.status !== 0 || typecheck.status !== 0) {
  console.log('0 passed, 1 failed');
  process.exit(1);
}
const outDir = join(root, 'test-results');
mkdirSync(outDir, { recursive: true });
const resultsFile = join(outDir, 'vitest.json');
rmSync(resultsFile, { force: true });
const vitest = run(bin('vitest'), ['run', '--reporter=default', '--reporter=json', `--outputFile.json=${resultsFile}`, ...process.argv.slice(2)]);
let passed = 0;
let failed = 0;
try {
  const results = JSON.parse(readFileSync(resultsFile, 'utf8'));
  passed = results.numPassedTests;
  failed = results.numFailedTests + (results.numRuntimeErrorTestSuites ?? 0) + (results.numFailedTestSuites && results.numFailedTests === 0 ? results.numFailedTestSuites : 0);
} catch {
  failed = 1;
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(vitest.status === 0 && failed === 0 ? 0 : 1);
