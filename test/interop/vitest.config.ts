import { defineConfig } from "vitest/config";

// `npm run test:interop`: the reference Go OpAMP client (opamp-go) against a real agent-api server.
// Not part of `npm test` (the root config only includes test/unit and test/integration).
export default defineConfig({
  test: {
    root: new URL("../..", import.meta.url).pathname,
    include: ["test/interop/**/*.test.ts"],
    globalSetup: ["test/interop/global-setup.ts"],
    testTimeout: 120_000,
    hookTimeout: 900_000,
    pool: "forks",
    // The Go clients, the server and PGlite share 2 cores; one file at a time keeps timings stable.
    fileParallelism: false,
    maxWorkers: 1,
  },
});
