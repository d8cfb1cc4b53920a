import { defineConfig } from "vitest/config";

// `npm run test:e2e`: the real opampsupervisor + a real collector against a real agent-api server.
// Not part of `npm test`. The first run builds both with Go (minutes); later runs reuse the cache.
export default defineConfig({
  test: {
    root: new URL("../..", import.meta.url).pathname,
    include: ["test/e2e/**/*.test.ts"],
    globalSetup: ["test/e2e/global-setup.ts"],
    testTimeout: 120_000,
    hookTimeout: 1_800_000,
    pool: "forks",
    fileParallelism: false,
    maxWorkers: 1,
  },
});
