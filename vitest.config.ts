import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'examples/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // Cluster and ingest tests start real processes; keep parallelism modest on 2 cores.
    maxWorkers: 2,
  },
});
