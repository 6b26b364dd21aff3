import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // End-to-end tests spawn the CLI; keep parallelism within the 2 cores CI has.
    maxWorkers: 2,
    minWorkers: 1,
  },
});
