import { defineConfig } from "vitest/config";

// `npm test` runs unit and integration tests, and the console's component tests (pure, no DOM). Integration tests start real servers on port 0 with
// the embedded database, or a fresh database on the PostgreSQL server named by TEST_DATABASE_URL.
export default defineConfig({
  test: {
    include: ["test/unit/**/*.test.ts", "test/integration/**/*.test.ts", "console/test/**/*.test.{ts,tsx}"],
    // With TEST_KMS=aws: one KMS emulator for the run, stopped when it ends.
    globalSetup: ["test/helpers/global-kms.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    maxWorkers: 2,
  },
});
