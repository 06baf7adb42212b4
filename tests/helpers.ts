import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/select.ts';

/** Run fn on a backend and return plain arrays (so results can be compared across backends). */
export async function onBackend<T>(name: 'wasm' | 'cpu', fn: () => T | Promise<T>): Promise<T> {
  await selectBackend(name);
  return fn();
}

/** max |a-b| / max(1, |b|) over all entries */
export function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  return m;
}

export function numTensors(): number {
  return tf.memory().numTensors;
}
