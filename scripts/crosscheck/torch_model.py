"""
The GPT of the PyTorch cross-checks (torch_sft.py, torch_lookup_format.py): pre-LN blocks with a fused qkv,
explicit causal softmax attention and a tanh-GELU MLP, learned positions (or rotary ones on q and k with
rope=True, as our `model.positions: "rope"`), a final LayerNorm and a head tied to the token embedding; PyTorch's
default init. (scripts/bench/torch_gpt.py's `build` is the speed baseline's
copy of our model, untied with our init; the cross-check figures in docs/tasks.md were measured with this one.)
"""
import math
import torch
import torch.nn as nn
import torch.nn.functional as F


def make_gpt(V, CTX, D, L, H, rope=False):
    hs = D // H
    inv = 1.0 / (10000 ** (torch.arange(0, hs, 2).float() / hs))
    ang = torch.arange(CTX).float()[:, None] * inv[None, :]  # [CTX, hs/2]
    cos, sin = ang.cos(), ang.sin()

    def rot(t):  # [B, H, T, hs]: rotate each (even, odd) pair by its position's angle
        T = t.shape[2]; c, s_ = cos[:T], sin[:T]; a, b = t[..., 0::2], t[..., 1::2]
        return torch.stack((a * c - b * s_, a * s_ + b * c), -1).flatten(-2)

    class Block(nn.Module):
        def __init__(s):
            super().__init__(); s.ln1 = nn.LayerNorm(D); s.qkv = nn.Linear(D, 3 * D); s.proj = nn.Linear(D, D); s.ln2 = nn.LayerNorm(D); s.fc = nn.Linear(D, 4 * D); s.out = nn.Linear(4 * D, D)

        def forward(s, x):
            B, T, _ = x.shape
            q, k, v = s.qkv(s.ln1(x)).split(D, 2)
            q, k, v = [t.view(B, T, H, D // H).transpose(1, 2) for t in (q, k, v)]
            if rope: q, k = rot(q), rot(k)
            a = ((q @ k.transpose(-1, -2)) / math.sqrt(D // H)).masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float('-inf')).softmax(-1)
            x = x + s.proj((a @ v).transpose(1, 2).reshape(B, T, D))
            return x + s.out(F.gelu(s.fc(s.ln2(x)), approximate='tanh'))

    class GPT(nn.Module):
        def __init__(s):
            super().__init__(); s.wte = nn.Embedding(V, D); s.wpe = None if rope else nn.Embedding(CTX, D); s.blocks = nn.ModuleList([Block() for _ in range(L)]); s.ln = nn.LayerNorm(D)

        def forward(s, ids):
            x = s.wte(ids) if rope else s.wte(ids) + s.wpe(torch.arange(ids.shape[1]))
            for b in s.blocks: x = b(x)
            return s.ln(x) @ s.wte.weight.T

    return GPT()
