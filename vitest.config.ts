import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // Model tests train small networks; on a loaded 2-core machine they need more than the 5 s default.
    testTimeout: 180_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
