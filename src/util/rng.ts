import seedrandom from 'seedrandom';

/** The state seedrandom exports for an ARC4 generator: stored in checkpoints, restored on resume. */
export interface RngState {
  i: number;
  j: number;
  S: number[];
}

/**
 * A seeded PRNG passed explicitly to everything random (tfjs has no global seed; src/ never calls Math.random).
 * Backed by seedrandom's ARC4 generator, whose full state can be saved and restored.
 */
export class Rng {
  private prng: seedrandom.StatefulPRNG<seedrandom.State.Arc4>;

  private constructor(prng: seedrandom.StatefulPRNG<seedrandom.State.Arc4>) {
    this.prng = prng;
  }

  static fromSeed(seed: number | string): Rng {
    return new Rng(seedrandom(String(seed), { state: true }));
  }

  static fromState(state: RngState): Rng {
    return new Rng(seedrandom('', { state: state as unknown as seedrandom.State.Arc4 }));
  }

  state(): RngState {
    return this.prng.state() as unknown as RngState;
  }

  /** Continue from a saved state (e.g. where a rollout worker's copy of this generator stopped). */
  restore(state: RngState): void {
    this.prng = seedrandom('', { state: state as unknown as seedrandom.State.Arc4 });
  }

  /** Uniform in [0, 1), 53 bits. */
  next(): number {
    return this.prng.double();
  }

  /** Integer in [lo, hi] inclusive. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** A derived, independent generator (e.g. one per worker or per purpose). */
  fork(label: string): Rng {
    return Rng.fromSeed(`${this.int(0, 2 ** 31 - 1)}:${label}`);
  }

  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)];
  }
}
