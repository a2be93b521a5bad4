import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Tests load the real ISNet model; a cold session plus a few inferences on
    // two cores takes seconds, so the defaults (5 s) are too tight.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // One model session per worker: keep workers few so two cores are not oversubscribed.
    pool: 'forks',
    maxWorkers: 2,
  },
});
