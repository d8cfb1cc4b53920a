import { defineConfig } from "vitest/config";

// `npm run test:console`: the built console in Debian's Chromium (/usr/bin/chromium, driven by
// playwright-core; no browser download) against a real server with real OpAMP test agents.
// Not part of `npm test`: it needs the browser, which `.ci/run` installs with apt.
export default defineConfig({
  test: {
    root: new URL("../..", import.meta.url).pathname,
    include: ["test/console/**/*.test.ts"],
    globalSetup: ["test/console/global-setup.ts"],
    testTimeout: 90_000,
    hookTimeout: 120_000,
    pool: "forks",
    fileParallelism: false,
    maxWorkers: 1,
  },
});
