import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Tests load the real ISNet model; a cold session plus a few inferences on
    // two cores takes seconds, so the defaults (5 s) are too tight. On an
    // AVX2-only 2 GHz CI machine one 1024 px inference takes ~7 s, twice that
    // beside the rest of the suite: a test of a handful of cut-outs needs minutes.
    testTimeout: 240_000,
    hookTimeout: 240_000,
    // One model session per worker: keep workers few so two cores are not oversubscribed.
    pool: 'forks',
    maxWorkers: 2,
  },
});
