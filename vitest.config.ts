import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Builds the tiny model once per run (test/global-setup.ts); tests read its path via inject().
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // onnxruntime and sharp are native addons: separate processes keep them apart.
    pool: 'forks',
    // The JSON report feeds .ci/run's closing "N passed, M failed" line.
    reporters: ['default', 'json'],
    outputFile: { json: 'test/.tmp/results.json' },
  },
});
