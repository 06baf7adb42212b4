/**
 * Linear warm-up to the peak, then cosine decay to minRatio·peak at `total` steps (or, `constant`, the peak after
 * warm-up, as the reference implementation). step is 0-based.
 */
export function learningRate(step: number, peak: number, warmup: number, total: number, minRatio: number, shape: 'cosine' | 'constant' = 'cosine'): number {
  if (warmup > 0 && step < warmup) return (peak * (step + 1)) / warmup;
  if (shape === 'constant') return peak;
  const span = Math.max(1, total - warmup);
  const progress = Math.min(1, (step - warmup) / span);
  return peak * (minRatio + (1 - minRatio) * 0.5 * (1 + Math.cos(Math.PI * progress)));
}
