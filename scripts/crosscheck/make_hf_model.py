"""
Write a small random model directory in transformers' `gpt2` or `llama` layout with PyTorch alone (transformers
cannot be installed here): config.json and model.safetensors (F32) with the names and shapes transformers uses,
no selfcest.json. tests/model/hf-export.test.ts imports it into selfcest and compares the logits with
hf_forward.py's, so the import is checked on weights selfcest never wrote.

With --tokenizer bpe it also writes a tokenizer of its own, as a pretrained model comes with one: a GPT-2-style
byte-level BPE (256 byte tokens, 6 merges, <|endoftext|>: 263 ids, vocab_size 263) in tokenizer.json and
tokenizer_config.json, without the clone protocol's tokens (the import adds them). Without it the vocabulary is
selfcest's 128 ids and no tokenizer is written (the import then uses selfcest's).

    python3 scripts/crosscheck/make_hf_model.py OUT_DIR gpt2|llama SEED [--tokenizer bpe] [--ctx N]
"""
import argparse
import json
import os
import struct

import torch

D, H, L, F = 16, 2, 2, 32


def bytes_to_unicode():
    """GPT-2's byte -> printable character table (its encoder.py)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\u00a1"), ord("\u00ac") + 1)) + list(range(ord("\u00ae"), ord("\u00ff") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def bpe_tokenizer():
    b2u = bytes_to_unicode()
    vocab = {b2u[b]: b for b in range(256)}
    merges = [("\u0120", "t"), ("h", "e"), ("i", "n"), ("1", "2"), ("\u0120", "a"), ("e", "r")]
    for a, b in merges:
        vocab[a + b] = len(vocab)
    eot = len(vocab)
    vocab["<|endoftext|>"] = eot
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    tok = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": eot, "content": "<|endoftext|>", "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}],
        "normalizer": None, "pre_tokenizer": byte_level, "post_processor": byte_level, "decoder": byte_level,
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "", "end_of_word_suffix": "", "fuse_unk": False,
                  "byte_fallback": False, "ignore_merges": False, "vocab": vocab, "merges": [f"{a} {b}" for a, b in merges]},
    }
    config = {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>", "model_max_length": 1024, "tokenizer_class": "GPT2Tokenizer"}
    return tok, config


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
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("family", choices=["gpt2", "llama"])
    ap.add_argument("seed", type=int)
    ap.add_argument("--tokenizer", choices=["none", "bpe"], default="none")
    ap.add_argument("--ctx", type=int, default=16)
    a = ap.parse_args()
    out, family, seed, CTX = a.out, a.family, a.seed, a.ctx
    tokenizer = bpe_tokenizer() if a.tokenizer == "bpe" else None
    V = len(tokenizer[0]["model"]["vocab"]) if tokenizer else 128
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
    os.makedirs(out, exist_ok=True)
    if tokenizer:
        json.dump(tokenizer[0], open(os.path.join(out, "tokenizer.json"), "w"), ensure_ascii=False)
        json.dump(tokenizer[1], open(os.path.join(out, "tokenizer_config.json"), "w"), indent=2)
    json.dump(cfg, open(os.path.join(out, "config.json"), "w"), indent=2)
    write_safetensors(os.path.join(out, "model.safetensors"), T)


if __name__ == "__main__":
    main()
