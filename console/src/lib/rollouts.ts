/** A rollout's progress per wave, from its cumulative wave targets and its counts. */

export interface WaveProgress {
  /** "canary", then "wave 1", "wave 2"… */
  name: string;
  /** Agents this wave admits. */
  size: number;
  /** Of those, how many have finished (succeeded, failed or rolled back). */
  finished: number;
  phase: "done" | "current" | "waiting";
}

/**
 * Agents are admitted in order: the canary takes positions 1..targets[0], wave k takes
 * targets[k-1]+1..targets[k]. Finished agents fill waves in that order.
 */
export function waveProgress(rollout: {
  waveTargets: number[];
  currentWave: number;
  state: string;
  counts: { succeeded: number; failed: number; rolledBack: number };
}): WaveProgress[] {
  const finishedTotal = rollout.counts.succeeded + rollout.counts.failed + rollout.counts.rolledBack;
  const over = rollout.state === "completed";
  let previous = 0;
  return rollout.waveTargets.map((target, index) => {
    const size = Math.max(0, target - previous);
    const finished = Math.min(size, Math.max(0, finishedTotal - previous));
    previous = Math.max(previous, target);
    const phase: WaveProgress["phase"] =
      over || index < rollout.currentWave ? "done" : index === rollout.currentWave ? "current" : "waiting";
    return { name: index === 0 ? "canary" : `wave ${index}`, size, finished, phase };
  });
}
