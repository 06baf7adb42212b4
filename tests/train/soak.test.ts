// Memory over the real trainers and the rollout engine (scripts/bench/soak.ts, run small here; the full figures are
// in docs/benchmarks.md): tf.memory().numTensors is the same at every step of a phase, and neither RSS nor the
// wasm heap grows by more than 64 MiB over a phase's second half.
import { describe, expect, it } from 'vitest';
import { soak, summary } from '../../scripts/bench/soak.ts';

describe('memory soak (small)', () => {
  it('SFT 40 steps, GRPO 10 steps, 40 rollout batches: numTensors flat, RSS and wasm heap bounded', async () => {
    const phases = await soak({ sftSteps: 40, grpoSteps: 10, rolloutBatches: 40, backend: 'wasm' });
    expect(phases.map((p) => p.samples.length)).toEqual([40, 10, 40]);
    for (const ph of phases) {
      const n = new Set(ph.samples.map((s) => s.numTensors));
      expect([...n], `${ph.name}: numTensors`).toHaveLength(1);
      expect(summary(ph.samples, 'rssMiB').secondHalfGrowth, `${ph.name}: RSS`).toBeLessThan(64);
      expect(summary(ph.samples, 'wasmMiB').secondHalfGrowth, `${ph.name}: wasm heap`).toBeLessThan(64);
    }
  }, 300_000);
});
