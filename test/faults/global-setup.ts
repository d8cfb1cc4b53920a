import { clearFragments, writeReport } from "./harness/report.js";

/** Fresh fragments before the run. */
export function setup(): void {
  clearFragments();
}

/** The joined report after the run (also when a test failed: a failed fault is in it as FAIL). */
export function teardown(): void {
  writeReport();
}
