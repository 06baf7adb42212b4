import { z } from 'zod';

/**
 * The policy's architecture. Typed data with defaults, validated on load, saved with every checkpoint.
 * Defaults: the "tiny GPT" of the calibration notes (0.8 M parameters at vocab 128).
 */
export const ModelConfigSchema = z
  .object({
    vocabSize: z.number().int().min(2).default(128),
    /** Context window: the most positions one sequence may hold. */
    ctx: z.number().int().min(2).default(128),
    dModel: z.number().int().min(2).default(128),
    nLayers: z.number().int().min(1).default(4),
    nHeads: z.number().int().min(1).default(4),
    mlpRatio: z.number().int().min(1).default(4),
    /** learned: a [ctx, d] position table; rope: rotary embeddings on q and k (no position parameters). */
    positions: z.enum(['learned', 'rope']).default('learned'),
    ropeBase: z.number().positive().default(10000),
    /** Share the token embedding with the LM head (logits = h · wteᵀ). */
    tieEmbeddings: z.boolean().default(false),
    /** the norm before attention, the MLP and the head: LayerNorm (weight and bias; absent means this) or RMSNorm (weight only) */
    norm: z.enum(['layer', 'rms']).optional(),
    /** the MLP: proj(gelu(fc(h))) (absent means this) or the gated proj(silu(gate(h)) * fc(h)) of Llama (swiglu) */
    mlp: z.enum(['gelu', 'swiglu']).optional(),
    /** biases in the attention and MLP projections (absent means true) */
    bias: z.boolean().optional(),
    lnEps: z.number().positive().default(1e-5),
    initStd: z.number().positive().default(0.02),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.dModel % c.nHeads !== 0) {
      ctx.addIssue({ code: 'custom', path: ['nHeads'], message: `dModel ${c.dModel} is not divisible by nHeads ${c.nHeads}` });
    } else if (c.positions === 'rope' && (c.dModel / c.nHeads) % 2 !== 0) {
      ctx.addIssue({ code: 'custom', path: ['nHeads'], message: 'rope needs an even head dimension' });
    }
  });

export type ModelConfig = z.infer<typeof ModelConfigSchema>;

export function modelConfig(partial: Partial<ModelConfig> = {}): ModelConfig {
  return ModelConfigSchema.parse(partial);
}

/** Parameter names and shapes ([in, out] for linear weights), in a fixed order. */
export function parameterShapes(c: ModelConfig): { name: string; shape: number[] }[] {
  const d = c.dModel;
  const f = c.mlpRatio * d;
  const out: { name: string; shape: number[] }[] = [{ name: 'wte.weight', shape: [c.vocabSize, d] }];
  if (c.positions === 'learned') out.push({ name: 'wpe.weight', shape: [c.ctx, d] });
  const norm = (name: string) => [{ name: `${name}.weight`, shape: [d] }, ...(c.norm === 'rms' ? [] : [{ name: `${name}.bias`, shape: [d] }])];
  const linear = (name: string, din: number, dout: number) => [{ name: `${name}.weight`, shape: [din, dout] }, ...(c.bias === false ? [] : [{ name: `${name}.bias`, shape: [dout] }])];
  for (let i = 0; i < c.nLayers; i++) {
    const p = `blocks.${i}.`;
    out.push(
      ...norm(`${p}ln1`),
      ...linear(`${p}attn.qkv`, d, 3 * d),
      ...linear(`${p}attn.proj`, d, d),
      ...norm(`${p}ln2`),
      ...(c.mlp === 'swiglu' ? linear(`${p}mlp.gate`, d, f) : []),
      ...linear(`${p}mlp.fc`, d, f),
      ...linear(`${p}mlp.proj`, f, d),
    );
  }
  out.push(...norm('ln_f'));
  if (!c.tieEmbeddings) out.push({ name: 'lm_head.weight', shape: [d, c.vocabSize] });
  return out;
}

export function parameterCount(c: ModelConfig): number {
  return parameterShapes(c).reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);
}
