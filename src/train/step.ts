/**
 * One supervised update: masked next-token NLL → gradients → clip → AdamW. Runs in one tf.tidy;
 * only the two scalars it reports survive (read here, then disposed).
 */
import * as tf from '@tensorflow/tfjs';
import type { GPT } from '../model/decoder.ts';
import type { AdamW } from './optim.ts';

/** A right-padded batch: inputs [B,T], targets [B,T], mask [B,T] (1 = a target the loss counts). */
export interface TokenBatch {
  ids: Int32Array;
  targets: Int32Array;
  mask: Float32Array;
  B: number;
  T: number;
}

export interface StepResult {
  loss: number;
  gradNorm: number;
}

export async function trainStep(model: GPT, opt: AdamW, batch: TokenBatch, lr: number): Promise<StepResult> {
  const vars = [...model.params.values()];
  const ourName = new Map([...model.params].map(([name, v]) => [v.name, name]));
  const [loss, norm] = tf.tidy(() => {
    const ids = tf.tensor2d(batch.ids, [batch.B, batch.T], 'int32');
    const targets = tf.tensor2d(batch.targets, [batch.B, batch.T], 'int32');
    const mask = tf.tensor2d(batch.mask, [batch.B, batch.T], 'float32');
    const { value, grads } = tf.variableGrads(() => model.loss(ids, targets, mask), vars);
    const named = new Map(Object.entries(grads).map(([k, g]) => [ourName.get(k)!, g]));
    const n = opt.apply(model.params, named, lr);
    return [value, n];
  });
  const [l, g] = await Promise.all([loss.data(), norm.data()]);
  tf.dispose([loss, norm]);
  return { loss: l[0], gradNorm: g[0] };
}
