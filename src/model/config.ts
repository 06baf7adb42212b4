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
  for (let i = 0; i < c.nLayers; i++) {
    const p = `blocks.${i}.`;
    out.push(
      { name: `${p}ln1.weight`, shape: [d] },
      { name: `${p}ln1.bias`, shape: [d] },
      { name: `${p}attn.qkv.weight`, shape: [d, 3 * d] },
      { name: `${p}attn.qkv.bias`, shape: [3 * d] },
      { name: `${p}attn.proj.weight`, shape: [d, d] },
      { name: `${p}attn.proj.bias`, shape: [d] },
      { name: `${p}ln2.weight`, shape: [d] },
      { name: `${p}ln2.bias`, shape: [d] },
      { name: `${p}mlp.fc.weight`, shape: [d, f] },
      { name: `${p}mlp.fc.bias`, shape: [f] },
      { name: `${p}mlp.proj.weight`, shape: [f, d] },
      { name: `${p}mlp.proj.bias`, shape: [d] },
    );
  }
  out.push({ name: 'ln_f.weight', shape: [d] }, { name: 'ln_f.bias', shape: [d] });
  if (!c.tieEmbeddings) out.push({ name: 'lm_head.weight', shape: [d, c.vocabSize] });
  return out;
}

export function parameterCount(c: ModelConfig): number {
  return parameterShapes(c).reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);
}
