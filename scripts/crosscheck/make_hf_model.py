"""
Write a small random model directory in transformers' `gpt2` or `llama` layout with PyTorch alone (transformers
cannot be installed here): config.json and model.safetensors (F32) with the names and shapes transformers uses,
no selfcest.json. tests/model/hf-export.test.ts imports it into selfcest and compares the logits with
hf_forward.py's, so the import is checked on weights selfcest never wrote.

    python3 scripts/crosscheck/make_hf_model.py OUT_DIR gpt2|llama SEED
"""
import json
import os
import struct
import sys

import torch

V, CTX, D, H, L, F = 128, 16, 16, 2, 2, 32


def write_safetensors(path, tensors):
    header, body, off = {}, b"", 0
    for name, t in tensors.items():
        raw = t.to(torch.float32).contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        body += raw
        off += len(raw)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + body)


def main():
    out, family, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    g = torch.Generator().manual_seed(seed)
    w = lambda *shape: torch.randn(*shape, generator=g) * 0.3
    gain = lambda n: 1 + torch.randn(n, generator=g) * 0.1
    T = {}
    if family == "gpt2":
        cfg = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": V, "n_positions": CTX, "n_embd": D, "n_layer": L, "n_head": H,
               "n_inner": F, "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5, "tie_word_embeddings": False}
        T["transformer.wte.weight"], T["transformer.wpe.weight"] = w(V, D), w(CTX, D)
        for i in range(L):
            p = f"transformer.h.{i}."
            for ln in ("ln_1", "ln_2"):
                T[p + ln + ".weight"], T[p + ln + ".bias"] = gain(D), w(D)
            for name, (din, dout) in {"attn.c_attn": (D, 3 * D), "attn.c_proj": (D, D), "mlp.c_fc": (D, F), "mlp.c_proj": (F, D)}.items():
                T[p + name + ".weight"], T[p + name + ".bias"] = w(din, dout), w(dout)  # Conv1D: [in, out]
        T["transformer.ln_f.weight"], T["transformer.ln_f.bias"] = gain(D), w(D)
        T["lm_head.weight"] = w(V, D)
    elif family == "llama":
        cfg = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": V, "max_position_embeddings": CTX, "hidden_size": D,
               "num_hidden_layers": L, "num_attention_heads": H, "num_key_value_heads": H, "intermediate_size": F, "hidden_act": "silu",
               "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "attention_bias": False, "mlp_bias": False, "tie_word_embeddings": False}
        T["model.embed_tokens.weight"] = w(V, D)
        for i in range(L):
            p = f"model.layers.{i}."
            T[p + "input_layernorm.weight"], T[p + "post_attention_layernorm.weight"] = gain(D), gain(D)
            for n in "qkvo":
                T[p + f"self_attn.{n}_proj.weight"] = w(D, D)  # Linear: [out, in]
            T[p + "mlp.gate_proj.weight"], T[p + "mlp.up_proj.weight"], T[p + "mlp.down_proj.weight"] = w(F, D), w(F, D), w(D, F)
        T["model.norm.weight"] = gain(D)
        T["lm_head.weight"] = w(V, D)
    else:
        raise SystemExit(f"unknown family {family}")
    os.makedirs(out, exist_ok=True)
    json.dump(cfg, open(os.path.join(out, "config.json"), "w"), indent=2)
    write_safetensors(os.path.join(out, "model.safetensors"), T)


if __name__ == "__main__":
    main()
