import { readFileSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  plugins: [
    {
      // Lua scripts are imported as text, as esbuild's `loader: { '.lua': 'text' }` does in the bundle.
      name: 'lua-as-text',
      load(id) {
        if (id.endsWith('.lua')) return `export default ${JSON.stringify(readFileSync(id, 'utf8'))};`;
      },
    },
  ],
  test: {
    globalSetup: ['tests/support/global-redis.ts'],
    include: ['tests/**/*.test.ts'],
    // Generous: the fuzz suites run 10,000 cases each, and a busy 2-core machine can take several times as long.
    testTimeout: 120_000,
    // Quiet runs: tests that look at logs or metrics turn them on for themselves.
    env: { POWERTOOLS_LOG_LEVEL: 'SILENT', POWERTOOLS_METRICS_DISABLED: 'true' },
    hookTimeout: 120_000,
    // Two test files at a time (vitest's default on a 2-core machine is one). Files never share state:
    // each uses its own redis-server, Redis database, ops tag or random ids, free ports, and a
    // per-process build folder for each local server. Much of the suite waits on real time (faults,
    // failover, servers starting), so a run takes ~230 s instead of ~400 s here; the fault tests'
    // answers stayed at most ~303 ms against their 450 ms bound (FAULTS_REPORT=1, two runs).
    maxWorkers: 2,
  },
});
