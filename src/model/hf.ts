/**
 * Hugging Face layouts of the policy, both ways. Pure TS (named Float32Arrays in and out, no tfjs).
 *
 * Our GPT is GPT-2 in all but names: pre-LayerNorm blocks with biases, a fused qkv, tanh-GELU ("gelu_new"), a final
 * LayerNorm. With learned positions it is transformers' `gpt2` (GPT2LMHeadModel) exactly; with RoPE it is
 * `gpt_neox` (GPTNeoXForCausalLM) with `use_parallel_residual: false`, `rotary_pct: 1` and `hidden_act:
 * "gelu_new"`: NeoX keeps LayerNorm, biases and a GELU MLP and rotates the two halves of each head
 * (rotate_half), as we do. With `norm: 'rms'` and `mlp: 'swiglu'` (and RoPE) it is transformers' `llama`
 * (LlamaForCausalLM): RMSNorm, the gated SiLU MLP (gate_proj, up_proj = our mlp.gate, mlp.fc; down_proj = mlp.proj),
 * separate q/k/v projections, `attention_bias` = `mlp_bias` = our `bias`, num_key_value_heads = num_attention_heads.
 * Other combinations have no transformers layout and are refused.
 *
 *   ours (linear weights [in, out])       gpt2 (Conv1D: [in, out])            gpt_neox (Linear: [out, in])
 *   wte.weight [V, d]                     transformer.wte.weight              gpt_neox.embed_in.weight
 *   wpe.weight [ctx, d]                   transformer.wpe.weight              (none: rotary)
 *   blocks.i.ln1.{weight,bias}            transformer.h.i.ln_1.*              gpt_neox.layers.i.input_layernorm.*
 *   blocks.i.attn.qkv.weight [d, 3d]      transformer.h.i.attn.c_attn.weight  ...attention.query_key_value.weight
 *                                                                             [3d, d], rows per head: q_h k_h v_h
 *   blocks.i.attn.proj.weight [d, d]      transformer.h.i.attn.c_proj.weight  ...attention.dense.weight (ᵀ)
 *   blocks.i.ln2.{weight,bias}            transformer.h.i.ln_2.*              ...post_attention_layernorm.*
 *   blocks.i.mlp.fc.weight [d, f]         transformer.h.i.mlp.c_fc.weight     ...mlp.dense_h_to_4h.weight (ᵀ)
 *   blocks.i.mlp.proj.weight [f, d]       transformer.h.i.mlp.c_proj.weight   ...mlp.dense_4h_to_h.weight (ᵀ)
 *   ln_f.{weight,bias}                    transformer.ln_f.*                  gpt_neox.final_layer_norm.*
 *   lm_head.weight [d, V]                 lm_head.weight [V, d] (ᵀ)           embed_out.weight [V, d] (ᵀ)
 *
 *   llama (Linear: [out, in]): model.embed_tokens, model.layers.i.{input_layernorm, post_attention_layernorm}.weight,
 *   ...self_attn.{q,k,v,o}_proj.{weight,bias?}, ...mlp.{gate,up,down}_proj.{weight,bias?}, model.norm.weight, lm_head.weight
 *
 * A tied model (`tieEmbeddings`) writes `tie_word_embeddings: true` and its head as the embedding (gpt2: no
 * lm_head tensor, as transformers saves it; gpt_neox: embed_out = embed_in).
 */
import { SelfcestError } from '../util/errors.ts';
import { modelConfig, parameterShapes, type ModelConfig } from './config.ts';

export type Arrays = Map<string, { shape: number[]; data: Float32Array }>;
export type HfFormat = 'gpt2' | 'gpt_neox' | 'llama';

/**
 * The transformers family a model exports to: gpt2 (learned positions) and gpt_neox (RoPE) for LayerNorm + GELU +
 * biases, llama for RoPE + RMSNorm + SwiGLU; any other combination is refused.
 */
export function hfFormatOf(c: ModelConfig): HfFormat {
  const classic = c.norm !== 'rms' && c.mlp !== 'swiglu' && c.bias !== false;
  if (classic) return c.positions === 'learned' ? 'gpt2' : 'gpt_neox';
  if (c.positions === 'rope' && c.norm === 'rms' && c.mlp === 'swiglu') return 'llama';
  throw new SelfcestError(
    `export: no transformers layout computes this model (positions ${c.positions}, norm ${c.norm ?? 'layer'}, mlp ${c.mlp ?? 'gelu'}, bias ${c.bias ?? true}): gpt2 is learned + layer + gelu + biases, gpt_neox rope + layer + gelu + biases, llama rope + rms + swiglu`,
  );
}

/** gpt2 block module names and ours (weight and bias each; Conv1D keeps our [in, out]), both directions. */
const GPT2_BLOCK: readonly (readonly [string, string])[] = [['ln_1', 'ln1'], ['attn.c_attn', 'attn.qkv'], ['attn.c_proj', 'attn.proj'], ['ln_2', 'ln2'], ['mlp.c_fc', 'mlp.fc'], ['mlp.c_proj', 'mlp.proj']];

/** [rows, cols] row-major → its transpose [cols, rows]. */
function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c];
  return out;
}

/**
 * NeoX's fused qkv row of ours: our qkv output column j·d + h·hd + e (j = 0 q, 1 k, 2 v; head h; element e) is NeoX
 * output row h·3hd + j·hd + e. Returns, for every NeoX row, our column.
 */
function neoxQkvOrder(d: number, H: number): Int32Array {
  const hd = d / H;
  const order = new Int32Array(3 * d);
  for (let h = 0; h < H; h++) for (let j = 0; j < 3; j++) for (let e = 0; e < hd; e++) order[h * 3 * hd + j * hd + e] = j * d + h * hd + e;
  return order;
}

/** The config.json of the export (transformers' keys; generation ids from our protocol tokens). */
export function hfConfig(c: ModelConfig, ids: { bos: number; eos: number; pad: number }): Record<string, unknown> {
  const common = { vocab_size: c.vocabSize, initializer_range: c.initStd, tie_word_embeddings: c.tieEmbeddings, bos_token_id: ids.bos, eos_token_id: ids.eos, pad_token_id: ids.pad, torch_dtype: 'float32' };
  if (hfFormatOf(c) === 'llama') {
    const bias = c.bias !== false;
    return {
      architectures: ['LlamaForCausalLM'], model_type: 'llama', ...common,
      hidden_size: c.dModel, num_hidden_layers: c.nLayers, num_attention_heads: c.nHeads, num_key_value_heads: c.nHeads, head_dim: c.dModel / c.nHeads,
      intermediate_size: c.mlpRatio * c.dModel, hidden_act: 'silu', max_position_embeddings: c.ctx, rms_norm_eps: c.lnEps, rope_theta: c.ropeBase, rope_scaling: null,
      attention_bias: bias, mlp_bias: bias, attention_dropout: 0, pretraining_tp: 1, use_cache: true,
    };
  }
  if (hfFormatOf(c) === 'gpt2') {
    return {
      architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', ...common,
      n_positions: c.ctx, n_ctx: c.ctx, n_embd: c.dModel, n_layer: c.nLayers, n_head: c.nHeads, n_inner: c.mlpRatio * c.dModel,
      activation_function: 'gelu_new', layer_norm_epsilon: c.lnEps, resid_pdrop: 0, embd_pdrop: 0, attn_pdrop: 0, scale_attn_weights: true, use_cache: true,
    };
  }
  return {
    architectures: ['GPTNeoXForCausalLM'], model_type: 'gpt_neox', ...common,
    hidden_size: c.dModel, num_hidden_layers: c.nLayers, num_attention_heads: c.nHeads, intermediate_size: c.mlpRatio * c.dModel,
    hidden_act: 'gelu_new', rotary_pct: 1, rotary_emb_base: c.ropeBase, rope_theta: c.ropeBase, max_position_embeddings: c.ctx,
    layer_norm_eps: c.lnEps, use_parallel_residual: false, attention_bias: true, attention_dropout: 0, hidden_dropout: 0, use_cache: true,
  };
}

/** Our weights in the HF layout of their family (names and shapes as transformers loads them). */
export function toHf(c: ModelConfig, arrays: Arrays): Arrays {
  const get = (n: string) => {
    const a = arrays.get(n);
    if (!a) throw new SelfcestError(`export: missing tensor "${n}"`);
    return a;
  };
  const d = c.dModel;
  const f = c.mlpRatio * d;
  const V = c.vocabSize;
  const out: Arrays = new Map();
  const put = (name: string, shape: number[], data: Float32Array) => out.set(name, { shape, data });
  const same = (to: string, from: string) => put(to, get(from).shape, get(from).data);
  const head = c.tieEmbeddings ? null : transpose(get('lm_head.weight').data, d, V); // [V, d]
  if (hfFormatOf(c) === 'llama') {
    const linearOut = (to: string, from: string, din: number, dout: number, cols?: [number, number]) => {
      // our [din, dout] (optionally its columns cols[0]..cols[1]) as a Linear [out, in]
      const w = get(`${from}.weight`).data;
      const [c0, c1] = cols ?? [0, dout];
      const part = new Float32Array(din * (c1 - c0));
      for (let r = 0; r < din; r++) part.set(w.subarray(r * dout + c0, r * dout + c1), r * (c1 - c0));
      put(`${to}.weight`, [c1 - c0, din], transpose(part, din, c1 - c0));
      if (c.bias !== false) put(`${to}.bias`, [c1 - c0], get(`${from}.bias`).data.slice(c0, c1));
    };
    same('model.embed_tokens.weight', 'wte.weight');
    for (let i = 0; i < c.nLayers; i++) {
      const [o, p] = [`model.layers.${i}.`, `blocks.${i}.`];
      same(`${o}input_layernorm.weight`, `${p}ln1.weight`);
      same(`${o}post_attention_layernorm.weight`, `${p}ln2.weight`);
      ['q', 'k', 'v'].forEach((n, j) => linearOut(`${o}self_attn.${n}_proj`, `${p}attn.qkv`, d, 3 * d, [j * d, (j + 1) * d]));
      linearOut(`${o}self_attn.o_proj`, `${p}attn.proj`, d, d);
      linearOut(`${o}mlp.gate_proj`, `${p}mlp.gate`, d, f);
      linearOut(`${o}mlp.up_proj`, `${p}mlp.fc`, d, f);
      linearOut(`${o}mlp.down_proj`, `${p}mlp.proj`, f, d);
    }
    same('model.norm.weight', 'ln_f.weight');
    if (head) put('lm_head.weight', [V, d], head);
    return out;
  }
  if (hfFormatOf(c) === 'gpt2') {
    same('transformer.wte.weight', 'wte.weight');
    same('transformer.wpe.weight', 'wpe.weight');
    for (let i = 0; i < c.nLayers; i++) {
      const [o, p] = [`transformer.h.${i}.`, `blocks.${i}.`];
      for (const [to, from] of GPT2_BLOCK) {
        same(`${o}${to}.weight`, `${p}${from}.weight`);
        same(`${o}${to}.bias`, `${p}${from}.bias`);
      }
    }
    same('transformer.ln_f.weight', 'ln_f.weight');
    same('transformer.ln_f.bias', 'ln_f.bias');
    if (head) put('lm_head.weight', [V, d], head);
    return out;
  }
  const order = neoxQkvOrder(d, c.nHeads);
  same('gpt_neox.embed_in.weight', 'wte.weight');
  for (let i = 0; i < c.nLayers; i++) {
    const [o, p] = [`gpt_neox.layers.${i}.`, `blocks.${i}.`];
    same(`${o}input_layernorm.weight`, `${p}ln1.weight`);
    same(`${o}input_layernorm.bias`, `${p}ln1.bias`);
    same(`${o}post_attention_layernorm.weight`, `${p}ln2.weight`);
    same(`${o}post_attention_layernorm.bias`, `${p}ln2.bias`);
    const qkvT = transpose(get(`${p}attn.qkv.weight`).data, d, 3 * d); // [3d, d], our column order
    const qkvW = new Float32Array(3 * d * d);
    const qkvB = new Float32Array(3 * d);
    const bias = get(`${p}attn.qkv.bias`).data;
    for (let r = 0; r < 3 * d; r++) {
      qkvW.set(qkvT.subarray(order[r] * d, order[r] * d + d), r * d);
      qkvB[r] = bias[order[r]];
    }
    put(`${o}attention.query_key_value.weight`, [3 * d, d], qkvW);
    put(`${o}attention.query_key_value.bias`, [3 * d], qkvB);
    put(`${o}attention.dense.weight`, [d, d], transpose(get(`${p}attn.proj.weight`).data, d, d));
    same(`${o}attention.dense.bias`, `${p}attn.proj.bias`);
    put(`${o}mlp.dense_h_to_4h.weight`, [f, d], transpose(get(`${p}mlp.fc.weight`).data, d, f));
    same(`${o}mlp.dense_h_to_4h.bias`, `${p}mlp.fc.bias`);
    put(`${o}mlp.dense_4h_to_h.weight`, [d, f], transpose(get(`${p}mlp.proj.weight`).data, f, d));
    same(`${o}mlp.dense_4h_to_h.bias`, `${p}mlp.proj.bias`);
  }
  same('gpt_neox.final_layer_norm.weight', 'ln_f.weight');
  same('gpt_neox.final_layer_norm.bias', 'ln_f.bias');
  put('embed_out.weight', [V, d], head ?? get('wte.weight').data);
  return out;
}

const num = (cfg: Record<string, unknown>, key: string, file: string, dflt?: number): number => {
  const v = cfg[key] ?? dflt;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new SelfcestError(`${file}: "${key}" must be a number (got ${JSON.stringify(cfg[key])})`);
  return v;
};

/**
 * Our model config from an HF config.json of the gpt2 or gpt_neox family, refusing what our GPT cannot compute the
 * same way (another activation, parallel residuals, partial rotary, …) with the key at fault.
 */
export function fromHfConfig(cfg: Record<string, unknown>, file = 'config.json'): ModelConfig {
  const type = cfg.model_type;
  const refuse = (key: string, want: string) => {
    throw new SelfcestError(`${file}: "${key}" is ${JSON.stringify(cfg[key])}; selfcest's GPT computes only ${want}`);
  };
  const tie = cfg.tie_word_embeddings === undefined ? type === 'gpt2' : cfg.tie_word_embeddings === true;
  if (type === 'gpt2') {
    const d = num(cfg, 'n_embd', file);
    const inner = cfg.n_inner == null ? 4 * d : num(cfg, 'n_inner', file);
    if (!['gelu_new', 'gelu_pytorch_tanh'].includes(String(cfg.activation_function ?? 'gelu_new'))) refuse('activation_function', '"gelu_new" (tanh GELU)');
    if (cfg.scale_attn_weights === false) refuse('scale_attn_weights', 'true');
    if (cfg.scale_attn_by_inverse_layer_idx === true) refuse('scale_attn_by_inverse_layer_idx', 'false');
    if (cfg.add_cross_attention === true) refuse('add_cross_attention', 'false');
    if (inner % d !== 0) refuse('n_inner', 'a multiple of n_embd');
    return modelConfig({
      vocabSize: num(cfg, 'vocab_size', file), ctx: num(cfg, 'n_positions', file), dModel: d, nLayers: num(cfg, 'n_layer', file), nHeads: num(cfg, 'n_head', file),
      mlpRatio: inner / d, positions: 'learned', tieEmbeddings: tie, lnEps: num(cfg, 'layer_norm_epsilon', file, 1e-5), initStd: num(cfg, 'initializer_range', file, 0.02),
    });
  }
  if (type === 'gpt_neox') {
    const d = num(cfg, 'hidden_size', file);
    const inner = num(cfg, 'intermediate_size', file);
    if (!['gelu_new', 'gelu_pytorch_tanh'].includes(String(cfg.hidden_act))) refuse('hidden_act', '"gelu_new" (tanh GELU)');
    if (cfg.use_parallel_residual !== false) refuse('use_parallel_residual', 'false (sequential residuals)');
    if (num(cfg, 'rotary_pct', file, 1) !== 1) refuse('rotary_pct', '1 (rotary on the whole head)');
    if (cfg.attention_bias === false) refuse('attention_bias', 'true');
    if (cfg.rope_scaling != null) refuse('rope_scaling', 'null');
    if (inner % d !== 0) refuse('intermediate_size', 'a multiple of hidden_size');
    return modelConfig({
      vocabSize: num(cfg, 'vocab_size', file), ctx: num(cfg, 'max_position_embeddings', file), dModel: d, nLayers: num(cfg, 'num_hidden_layers', file),
      nHeads: num(cfg, 'num_attention_heads', file), mlpRatio: inner / d, positions: 'rope', ropeBase: num(cfg, 'rope_theta', file, num(cfg, 'rotary_emb_base', file, 10000)),
      tieEmbeddings: tie, lnEps: num(cfg, 'layer_norm_eps', file, 1e-5), initStd: num(cfg, 'initializer_range', file, 0.02),
    });
  }
  if (type === 'llama') {
    const d = num(cfg, 'hidden_size', file);
    const H = num(cfg, 'num_attention_heads', file);
    const inner = num(cfg, 'intermediate_size', file);
    if (String(cfg.hidden_act ?? 'silu') !== 'silu') refuse('hidden_act', '"silu"');
    if (num(cfg, 'num_key_value_heads', file, H) !== H) refuse('num_key_value_heads', 'num_attention_heads (no grouped-query attention)');
    if (num(cfg, 'head_dim', file, d / H) !== d / H) refuse('head_dim', 'hidden_size / num_attention_heads');
    if (cfg.rope_scaling != null) refuse('rope_scaling', 'null');
    if (num(cfg, 'pretraining_tp', file, 1) !== 1) refuse('pretraining_tp', '1');
    const bias = cfg.attention_bias === true;
    if ((cfg.mlp_bias === true) !== bias) refuse('mlp_bias', `the same as attention_bias (${bias})`);
    if (inner % d !== 0) refuse('intermediate_size', 'a multiple of hidden_size');
    return modelConfig({
      vocabSize: num(cfg, 'vocab_size', file), ctx: num(cfg, 'max_position_embeddings', file), dModel: d, nLayers: num(cfg, 'num_hidden_layers', file), nHeads: H,
      mlpRatio: inner / d, positions: 'rope', ropeBase: num(cfg, 'rope_theta', file, 10000), norm: 'rms', mlp: 'swiglu', ...(bias ? {} : { bias: false }),
      tieEmbeddings: cfg.tie_word_embeddings === true, lnEps: num(cfg, 'rms_norm_eps', file, 1e-6), initStd: num(cfg, 'initializer_range', file, 0.02),
    });
  }
  throw new SelfcestError(`${file}: model_type ${JSON.stringify(type)} is not supported (selfcest reads "gpt2", "gpt_neox" and "llama")`);
}

/** HF-layout weights (gpt2 or gpt_neox) as ours, checked tensor by tensor against `c`. */
export function fromHf(c: ModelConfig, hf: Arrays, file = 'model.safetensors'): Arrays {
  const d = c.dModel;
  const f = c.mlpRatio * d;
  const V = c.vocabSize;
  const want = new Map(parameterShapes(c).map((p) => [p.name, p.shape]));
  const out: Arrays = new Map();
  const get = (n: string, shape: number[]) => {
    const a = hf.get(n);
    if (!a) throw new SelfcestError(`${file}: missing tensor "${n}" (expected shape [${shape}])`);
    if (a.shape.join(',') !== shape.join(',')) throw new SelfcestError(`${file}: tensor "${n}" has shape [${a.shape}], expected [${shape}]`);
    return a.data;
  };
  const put = (name: string, data: Float32Array) => out.set(name, { shape: want.get(name)!, data });
  const same = (to: string, from: string) => put(to, get(from, want.get(to)!));
  if (hfFormatOf(c) === 'llama') {
    /** Linear weights [out, in] (and biases) of `froms`, side by side, as our [din, sum of outs] layer `to` */
    const linearIn = (to: string, froms: string[], din: number, dout: number) => {
      const w = new Float32Array(din * dout * froms.length);
      const b = new Float32Array(dout * froms.length);
      froms.forEach((from, j) => {
        const t = transpose(get(`${from}.weight`, [dout, din]), dout, din); // [din, dout]
        for (let r = 0; r < din; r++) w.set(t.subarray(r * dout, (r + 1) * dout), r * dout * froms.length + j * dout);
        if (c.bias !== false) b.set(get(`${from}.bias`, [dout]), j * dout);
      });
      put(`${to}.weight`, w);
      if (c.bias !== false) put(`${to}.bias`, b);
    };
    same('wte.weight', 'model.embed_tokens.weight');
    for (let i = 0; i < c.nLayers; i++) {
      const [o, p] = [`model.layers.${i}.`, `blocks.${i}.`];
      same(`${p}ln1.weight`, `${o}input_layernorm.weight`);
      same(`${p}ln2.weight`, `${o}post_attention_layernorm.weight`);
      linearIn(`${p}attn.qkv`, ['q', 'k', 'v'].map((n) => `${o}self_attn.${n}_proj`), d, d);
      linearIn(`${p}attn.proj`, [`${o}self_attn.o_proj`], d, d);
      linearIn(`${p}mlp.gate`, [`${o}mlp.gate_proj`], d, f);
      linearIn(`${p}mlp.fc`, [`${o}mlp.up_proj`], d, f);
      linearIn(`${p}mlp.proj`, [`${o}mlp.down_proj`], f, d);
    }
    same('ln_f.weight', 'model.norm.weight');
    if (!c.tieEmbeddings) put('lm_head.weight', transpose(get('lm_head.weight', [V, d]), V, d));
    return out;
  }
  if (hfFormatOf(c) === 'gpt2') {
    same('wte.weight', 'transformer.wte.weight');
    same('wpe.weight', 'transformer.wpe.weight');
    for (let i = 0; i < c.nLayers; i++) {
      const [o, p] = [`transformer.h.${i}.`, `blocks.${i}.`];
      for (const [from, to] of GPT2_BLOCK) {
        same(`${p}${to}.weight`, `${o}${from}.weight`);
        same(`${p}${to}.bias`, `${o}${from}.bias`);
      }
    }
    same('ln_f.weight', 'transformer.ln_f.weight');
    same('ln_f.bias', 'transformer.ln_f.bias');
    if (!c.tieEmbeddings) put('lm_head.weight', transpose(get('lm_head.weight', [V, d]), V, d));
    return out;
  }
  const order = neoxQkvOrder(d, c.nHeads);
  same('wte.weight', 'gpt_neox.embed_in.weight');
  for (let i = 0; i < c.nLayers; i++) {
    const [o, p] = [`gpt_neox.layers.${i}.`, `blocks.${i}.`];
    same(`${p}ln1.weight`, `${o}input_layernorm.weight`);
    same(`${p}ln1.bias`, `${o}input_layernorm.bias`);
    same(`${p}ln2.weight`, `${o}post_attention_layernorm.weight`);
    same(`${p}ln2.bias`, `${o}post_attention_layernorm.bias`);
    const w = get(`${o}attention.query_key_value.weight`, [3 * d, d]);
    const b = get(`${o}attention.query_key_value.bias`, [3 * d]);
    const ourT = new Float32Array(3 * d * d); // [3d, d] in our column order
    const bias = new Float32Array(3 * d);
    for (let r = 0; r < 3 * d; r++) {
      ourT.set(w.subarray(r * d, r * d + d), order[r] * d);
      bias[order[r]] = b[r];
    }
    put(`${p}attn.qkv.weight`, transpose(ourT, 3 * d, d));
    put(`${p}attn.qkv.bias`, bias);
    put(`${p}attn.proj.weight`, transpose(get(`${o}attention.dense.weight`, [d, d]), d, d));
    same(`${p}attn.proj.bias`, `${o}attention.dense.bias`);
    put(`${p}mlp.fc.weight`, transpose(get(`${o}mlp.dense_h_to_4h.weight`, [f, d]), f, d));
    same(`${p}mlp.fc.bias`, `${o}mlp.dense_h_to_4h.bias`);
    put(`${p}mlp.proj.weight`, transpose(get(`${o}mlp.dense_4h_to_h.weight`, [d, f]), d, f));
    same(`${p}mlp.proj.bias`, `${o}mlp.dense_4h_to_h.bias`);
  }
  same('ln_f.weight', 'gpt_neox.final_layer_norm.weight');
  same('ln_f.bias', 'gpt_neox.final_layer_norm.bias');
  if (!c.tieEmbeddings) put('lm_head.weight', transpose(get('embed_out.weight', [V, d]), V, d));
  return out;
}
