"""
A PyTorch forward of a Hugging Face model directory in transformers' `gpt2`, `gpt_neox` or `llama` layout, written
from those models' documented semantics (transformers' modeling_gpt2.py / modeling_gpt_neox.py / modeling_llama.py:
Conv1D weights are [in, out], Linear weights [out, in]; NeoX's fused query_key_value is split per head as (q, k, v);
rotary on the whole head by rotate_half; sequential residuals; Llama: RMSNorm, separate q/k/v/o projections,
down(silu(gate(x)) * up(x))), without transformers itself (it cannot be installed here).

    python3 scripts/crosscheck/hf_forward.py DIR IDS_JSON   ->  prints {"logits": [[[...V] per position] per row]}

IDS_JSON: a JSON list of rows of token ids (equal lengths). Used by tests/model/hf-export.test.ts to check that
`selfcest export` reproduces our logits. Reads safetensors with struct + json (no safetensors package).
"""
import json
import math
import struct
import sys

import torch

DTYPES = {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16, "BF16": torch.bfloat16, "I32": torch.int32}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    body = raw[8 + n :]
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        x = torch.frombuffer(bytearray(body[a:b]), dtype=DTYPES[t["dtype"]]).reshape(t["shape"])
        out[name] = x.to(torch.float64)  # float64: the reference adds no rounding of its own
    return out


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def layer_norm(x, w, b, eps):
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), w, b, eps)


def causal_attention(q, k, v):  # [B, H, T, hd]
    T = q.shape[2]
    att = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    att = att.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float("-inf")).softmax(-1)
    return att @ v


def gpt2_forward(cfg, W, ids):
    B, T = ids.shape
    d, H = cfg["n_embd"], cfg["n_head"]
    eps = cfg.get("layer_norm_epsilon", 1e-5)
    x = W["transformer.wte.weight"][ids] + W["transformer.wpe.weight"][torch.arange(T)][None]
    for i in range(cfg["n_layer"]):
        p = f"transformer.h.{i}."
        h = layer_norm(x, W[p + "ln_1.weight"], W[p + "ln_1.bias"], eps)
        qkv = h @ W[p + "attn.c_attn.weight"] + W[p + "attn.c_attn.bias"]  # Conv1D: x @ W + b
        q, k, v = qkv.split(d, dim=2)
        q, k, v = [t.view(B, T, H, d // H).transpose(1, 2) for t in (q, k, v)]
        y = causal_attention(q, k, v).transpose(1, 2).reshape(B, T, d)
        x = x + y @ W[p + "attn.c_proj.weight"] + W[p + "attn.c_proj.bias"]
        h = layer_norm(x, W[p + "ln_2.weight"], W[p + "ln_2.bias"], eps)
        h = gelu_new(h @ W[p + "mlp.c_fc.weight"] + W[p + "mlp.c_fc.bias"])
        x = x + h @ W[p + "mlp.c_proj.weight"] + W[p + "mlp.c_proj.bias"]
    x = layer_norm(x, W["transformer.ln_f.weight"], W["transformer.ln_f.bias"], eps)
    head = W["transformer.wte.weight"] if cfg.get("tie_word_embeddings", True) else W["lm_head.weight"]
    return x @ head.T  # lm_head is a Linear: [V, d]


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)


def neox_forward(cfg, W, ids):
    B, T = ids.shape
    d, H = cfg["hidden_size"], cfg["num_attention_heads"]
    hd = d // H
    eps = cfg.get("layer_norm_eps", 1e-5)
    assert cfg.get("rotary_pct", 1.0) == 1.0 and cfg.get("use_parallel_residual") is False
    base = cfg.get("rope_theta", cfg.get("rotary_emb_base", 10000))
    inv_freq = 1.0 / (base ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    freqs = torch.arange(T, dtype=torch.float64)[:, None] * inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)  # [T, hd]
    cos, sin = emb.cos()[None, None], emb.sin()[None, None]
    lin = lambda x, name: x @ W[name + ".weight"].T + (W[name + ".bias"] if name + ".bias" in W else 0)  # Linear
    x = W["gpt_neox.embed_in.weight"][ids]
    for i in range(cfg["num_hidden_layers"]):
        p = f"gpt_neox.layers.{i}."
        h = layer_norm(x, W[p + "input_layernorm.weight"], W[p + "input_layernorm.bias"], eps)
        qkv = lin(h, p + "attention.query_key_value").view(B, T, H, 3 * hd)
        q, k, v = [t.permute(0, 2, 1, 3) for t in qkv.split(hd, dim=-1)]  # [B, H, T, hd] each
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        y = causal_attention(q, k, v).permute(0, 2, 1, 3).reshape(B, T, d)
        x = x + lin(y, p + "attention.dense")
        h = layer_norm(x, W[p + "post_attention_layernorm.weight"], W[p + "post_attention_layernorm.bias"], eps)
        x = x + lin(gelu_new(lin(h, p + "mlp.dense_h_to_4h")), p + "mlp.dense_4h_to_h")
    x = layer_norm(x, W["gpt_neox.final_layer_norm.weight"], W["gpt_neox.final_layer_norm.bias"], eps)
    head = W["gpt_neox.embed_in.weight"] if cfg.get("tie_word_embeddings", False) else W["embed_out.weight"]
    return x @ head.T


def rms_norm(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def llama_forward(cfg, W, ids):
    B, T = ids.shape
    d, H = cfg["hidden_size"], cfg["num_attention_heads"]
    hd = cfg.get("head_dim", d // H)
    assert cfg.get("num_key_value_heads", H) == H and cfg.get("hidden_act", "silu") == "silu"
    eps = cfg.get("rms_norm_eps", 1e-6)
    base = cfg.get("rope_theta", 10000)
    inv_freq = 1.0 / (base ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    freqs = torch.arange(T, dtype=torch.float64)[:, None] * inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos()[None, None], emb.sin()[None, None]
    lin = lambda x, name: x @ W[name + ".weight"].T + (W[name + ".bias"] if name + ".bias" in W else 0)
    x = W["model.embed_tokens.weight"][ids]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms_norm(x, W[p + "input_layernorm.weight"], eps)
        q, k, v = [lin(h, p + f"self_attn.{n}_proj").view(B, T, H, hd).transpose(1, 2) for n in "qkv"]
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        y = causal_attention(q, k, v).transpose(1, 2).reshape(B, T, d)
        x = x + lin(y, p + "self_attn.o_proj")
        h = rms_norm(x, W[p + "post_attention_layernorm.weight"], eps)
        x = x + lin(torch.nn.functional.silu(lin(h, p + "mlp.gate_proj")) * lin(h, p + "mlp.up_proj"), p + "mlp.down_proj")
    x = rms_norm(x, W["model.norm.weight"], eps)
    head = W["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings", False) else W["lm_head.weight"]
    return x @ head.T


def main():
    d, ids_json = sys.argv[1], sys.argv[2]
    cfg = json.load(open(f"{d}/config.json"))
    W = read_safetensors(f"{d}/model.safetensors")
    ids = torch.tensor(json.loads(ids_json), dtype=torch.long)
    fwd = {"gpt2": gpt2_forward, "gpt_neox": neox_forward, "llama": llama_forward}[cfg["model_type"]]
    with torch.no_grad():
        logits = fwd(cfg, W, ids)
    print(json.dumps({"logits": logits.tolist()}))


if __name__ == "__main__":
    main()
