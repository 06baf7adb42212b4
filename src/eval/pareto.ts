/**
 * The accuracy–cost Pareto frontier: a point is on it when no other point is at least as cheap and at least
 * as accurate while strictly better in one of the two. Equal points are all on it. Pure TS.
 */
export interface CostPoint {
  /** cost (lower is better), e.g. mean total tokens */
  cost: number;
  /** accuracy (higher is better) */
  accuracy: number;
}

export function dominates(a: CostPoint, b: CostPoint): boolean {
  return a.cost <= b.cost && a.accuracy >= b.accuracy && (a.cost < b.cost || a.accuracy > b.accuracy);
}

/** Indices of the frontier points, ordered by cost (then accuracy). Points with a non-finite field are never on it. */
export function paretoFrontier(points: readonly CostPoint[]): number[] {
  const ok = points.map((p, i) => ({ p, i })).filter(({ p }) => Number.isFinite(p.cost) && Number.isFinite(p.accuracy));
  // sweep by cost ascending, accuracy descending: a point is on the frontier when it beats the best accuracy
  // seen at any strictly lower cost, and equals the best at its own cost
  ok.sort((a, b) => a.p.cost - b.p.cost || b.p.accuracy - a.p.accuracy || a.i - b.i);
  const out: number[] = [];
  let bestBelow = -Infinity; // best accuracy among points of strictly lower cost
  for (let s = 0; s < ok.length; ) {
    let e = s;
    while (e < ok.length && ok[e].p.cost === ok[s].p.cost) e++;
    const top = ok[s].p.accuracy; // best at this cost
    if (top > bestBelow) for (let j = s; j < e && ok[j].p.accuracy === top; j++) out.push(ok[j].i);
    bestBelow = Math.max(bestBelow, top);
    s = e;
  }
  return out;
}
