#!/usr/bin/python3
"""PyTorch CPU baseline for the speed benchmarks: the same small GPT as ours.

Run it with Debian's system Python (NOT the pyenv `python3` shim first on PATH):

    apt-get update && apt-get install -y python3-torch libopenblas0-pthread
    /usr/bin/python3 scripts/bench/torch_gpt.py --mode train --steps 50 --warmup 3
    /usr/bin/python3 scripts/bench/torch_gpt.py --mode decode --batch 1  --new-tokens 128
    /usr/bin/python3 scripts/bench/torch_gpt.py --mode decode --batch 64 --new-tokens 128

Torch must use OpenBLAS (pthread build) as its BLAS; check with
`update-alternatives --display libblas.so.3-x86_64-linux-gnu` (it should point at
/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3; if not:
`update-alternatives --set libblas.so.3-x86_64-linux-gnu
/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3`).

Model (must match ours in architecture and FLOPs)
-------------------------------------------------
* learned token embedding [V, d] and learned position embedding [ctx, d];
* L pre-LayerNorm blocks (eps 1e-5):
    x += proj(attn(ln1(x)))   fused qkv Linear(d, 3d, bias), H heads, explicit causal
                              attention softmax(q @ k^T / sqrt(d/H) + mask) @ v (no fused
                              scaled_dot_product_attention: our TF.js model has none),
                              out proj Linear(d, d, bias)
    x += fc2(gelu_tanh(fc1(ln2(x))))   fc1 Linear(d, 4d, bias), fc2 Linear(4d, d, bias)
* final LayerNorm, untied LM head Linear(d, V) WITHOUT bias;
* init: every weight matrix and both embeddings N(0, 0.02); the residual projections
  (attn proj and fc2) N(0, 0.02/sqrt(2L)); all biases 0; LayerNorm gain 1, shift 0;
* loss: mean NLL (F.cross_entropy); optimizer torch.optim.Adam(lr 1e-3,
  betas (0.9, 0.999), eps 1e-8).

Data
----
Deterministic learnable sequences x_{t+1} = (5 * x_t + 3) mod V (full period for V = 64).
Row starts come from an LCG seeded with --seed:
    s <- (1103515245 * s + 12345) mod 2^31 ;  start = (s >> 16) mod V
one draw per row, rows of successive batches continuing the same LCG. A row is a T+1
sequence; inputs are its positions 0..T-1 and targets 1..T. All batches are made before
timing starts.

Modes
-----
train:  times each full step (zero_grad, forward, loss, backward, optimizer.step,
        loss.item()) after --warmup untimed steps. loss_first is the loss of the very
        first step (a warm-up step if --warmup > 0), loss_last that of the last step.
        Output, one JSON line:
        {"impl":"pytorch","mode":"train","torch":..,"threads":..,"blas_threads":..,
         "ms_per_step_median":..,"ms_per_step_all":[..],"tokens_per_s":batch*ctx/median_s,
         "loss_first":..,"loss_last":..,"params":..,"steps":..,"warmup":..,"config":{..}}
decode: incremental decoding under torch.no_grad() with a KV cache (per layer the new k/v
        are concatenated onto the cache along time; the query attends over the whole
        cache). Prompt: one token (0) at position 0 per row; each step embeds 1 token +
        its position, runs the blocks and the LM head, samples the next token on-device
        with torch.multinomial(softmax(logits)). One 8-token warm-up generation, then the
        median of 3 generations of --new-tokens tokens (new_tokens <= ctx).
        Output, one JSON line:
        {"impl":"pytorch","mode":"decode","torch":..,"threads":..,"blas_threads":..,
         "batch":..,"new_tokens":..,"ms_per_token_step_median":median_gen_ms/new_tokens,
         "ms_per_generation_median":..,"ms_per_generation_all":[..],
         "tokens_per_s":batch*new_tokens/median_generation_s,"params":..,"config":{..}}
If torch cannot be imported, prints {"impl":"pytorch","error":"torch not available: ..."}
and exits with code 3.

Threads (measured on the 2-core AMD EPYC dev machine, torch 1.13.1+dfsg from Debian 12 (reports
__version__ 1.13.0a0),
OpenBLAS 0.3.21 pthread, default config V=64 d=128 L=4 H=4 ctx=128 batch=16;
each configuration run twice, machine shared with other work, so numbers are noisy;
no OPENBLAS_* variables were set in this environment):

    torch threads  OPENBLAS_NUM_THREADS   train ms/step (median of 50)   decode b=1 / b=64 tok/s
    -------------  --------------------   ----------------------------   -----------------------
      1                 1                  193.8 / 192.9  (10.6k tok/s)     1852 / 1808   8497 / 6942
      1                 2                  152.0 / 141.6  (13.5k-14.5k)     1705 / 1860   6090 / 8718
      2                 1                  197.2 / 170.1  (10.4k-12.0k)     1180 / 1775   6285 / 3805
      2                 2                  315.6 / 354.2  ( 6.5k- 5.8k)      153 /  154    989 / 1229

    Later re-runs of the default (1 / 2) gave 183, 181, 185, 209 ms/step, and 183, 145 with
    the unrelated NVPL_BLAS_DEBUG_CPU_TYPE=1 (set in this environment) unset: no visible
    effect, the spread is load from other work on the host. 1 torch thread + 2 OpenBLAS
    threads is fastest for training (matches an earlier 155 ms/step measurement); 2 + 2
    oversubscribes the 2 cores (OpenMP and OpenBLAS pools both spin) and is 2-10x slower.
    For decode the 1-torch-thread configurations are within noise of each other. At
    batch 64 the first timed generation is regularly ~2x slower than the next two (likely allocator
    warm-up for the growing KV cache beyond the 8-token warm-up); the median of 3 hides it.

Default: --threads 1 and --blas-threads 2 (the fastest measured).
--blas-threads sets OPENBLAS_NUM_THREADS before torch is imported; when it is not given
and OPENBLAS_NUM_THREADS is already set in the environment, that value is kept. The
thread count OpenBLAS actually reports (openblas_get_num_threads) is what the JSON gives
as blas_threads.
"""

import argparse
import json
import math
import os
import statistics
import sys
import time

DEFAULT_THREADS = 1
DEFAULT_BLAS_THREADS = 2

INSTALL_HINT = ("torch not available: install with: apt-get install -y python3-torch "
                "libopenblas0-pthread (Debian's system python /usr/bin/python3)")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="PyTorch CPU GPT baseline (train / decode timing)")
    p.add_argument("--mode", choices=["train", "decode"], default="train")
    p.add_argument("--steps", type=int, default=50, help="timed training steps")
    p.add_argument("--warmup", type=int, default=3, help="untimed training steps first")
    p.add_argument("--batch", type=int, default=None,
                   help="batch size (default 16 for train, 1 for decode)")
    p.add_argument("--ctx", type=int, default=128)
    p.add_argument("--d", type=int, default=128)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--vocab", type=int, default=64)
    p.add_argument("--new-tokens", type=int, default=128, help="decode: tokens generated")
    p.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                   help="torch.set_num_threads (ATen intra-op threads)")
    p.add_argument("--blas-threads", type=int, default=None,
                   help="OPENBLAS_NUM_THREADS, set before torch is imported "
                        f"(default: the environment's value, else {DEFAULT_BLAS_THREADS})")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu",
                   help="torch device: cpu (default) or cuda (the GPU baseline; timings synchronise the device)")
    a = p.parse_args(argv)
    if a.batch is None:
        a.batch = 16 if a.mode == "train" else 1
    if a.d % a.heads != 0:
        p.error("--d must be divisible by --heads")
    if a.mode == "decode" and a.new_tokens > a.ctx:
        p.error("--new-tokens must be <= --ctx (positions 0..new_tokens-1 are used)")
    if min(a.steps, a.batch, a.ctx, a.d, a.layers, a.heads, a.vocab, a.new_tokens, a.threads) < 1:
        p.error("sizes and counts must be >= 1")
    if a.warmup < 0:
        p.error("--warmup must be >= 0")
    return a


def openblas_threads():
    """Threads OpenBLAS reports, or None if it can't be asked (not loaded / not OpenBLAS)."""
    try:
        import ctypes
        lib = ctypes.CDLL("libopenblas.so.0")
        return int(lib.openblas_get_num_threads())
    except Exception:  # noqa: BLE001 - purely informational
        return None


def make_batches(n_batches, batch, ctx, vocab, seed):
    """All batches (inputs, targets) as nested lists, from the LCG described above."""
    s = seed % (1 << 31)
    out = []
    for _ in range(n_batches):
        xs, ys = [], []
        for _ in range(batch):
            s = (1103515245 * s + 12345) % (1 << 31)
            v = (s >> 16) % vocab
            seq = [v]
            for _ in range(ctx):
                v = (5 * v + 3) % vocab
                seq.append(v)
            xs.append(seq[:-1])
            ys.append(seq[1:])
        out.append((xs, ys))
    return out


def build(torch, args):
    nn = torch.nn
    F = torch.nn.functional

    class Block(nn.Module):
        def __init__(self, d, heads):
            super().__init__()
            self.h = heads
            self.hd = d // heads
            self.ln1 = nn.LayerNorm(d, eps=1e-5)
            self.qkv = nn.Linear(d, 3 * d, bias=True)
            self.proj = nn.Linear(d, d, bias=True)
            self.ln2 = nn.LayerNorm(d, eps=1e-5)
            self.fc1 = nn.Linear(d, 4 * d, bias=True)
            self.fc2 = nn.Linear(4 * d, d, bias=True)

        def _heads(self, t, B, T):  # [B,T,d] -> [B,H,T,hd]
            return t.view(B, T, self.h, self.hd).transpose(1, 2)

        def mlp(self, x):
            return self.fc2(F.gelu(self.fc1(self.ln2(x)), approximate="tanh"))

        def forward(self, x, mask):
            B, T, d = x.shape
            q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
            q, k, v = self._heads(q, B, T), self._heads(k, B, T), self._heads(v, B, T)
            att = q @ k.transpose(-2, -1) / math.sqrt(self.hd) + mask[:T, :T]
            att = torch.softmax(att, dim=-1)
            y = (att @ v).transpose(1, 2).reshape(B, T, d)
            x = x + self.proj(y)
            return x + self.mlp(x)

        def step(self, x, cache):
            """x: [B,1,d]; cache: None or (k,v) each [B,H,t,hd]. Returns x, new cache."""
            B, T, d = x.shape
            q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
            q, k, v = self._heads(q, B, T), self._heads(k, B, T), self._heads(v, B, T)
            if cache is not None:
                k = torch.cat((cache[0], k), dim=2)
                v = torch.cat((cache[1], v), dim=2)
            att = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(self.hd), dim=-1)
            y = (att @ v).transpose(1, 2).reshape(B, T, d)
            x = x + self.proj(y)
            return x + self.mlp(x), (k, v)

    class GPT(nn.Module):
        def __init__(self, vocab, ctx, d, layers, heads):
            super().__init__()
            self.tok = nn.Embedding(vocab, d)
            self.pos = nn.Embedding(ctx, d)
            self.blocks = nn.ModuleList([Block(d, heads) for _ in range(layers)])
            self.ln_f = nn.LayerNorm(d, eps=1e-5)
            self.head = nn.Linear(d, vocab, bias=False)
            mask = torch.full((ctx, ctx), float("-inf")).triu(1)  # 0 on/below diagonal
            self.register_buffer("mask", mask, persistent=False)
            resid_std = 0.02 / math.sqrt(2 * layers)
            for name, p in self.named_parameters():
                if name.endswith("bias"):
                    nn.init.zeros_(p)
                elif ".ln" in name or name.startswith("ln_f"):
                    nn.init.ones_(p)
                elif name.endswith("proj.weight") or name.endswith("fc2.weight"):
                    nn.init.normal_(p, 0.0, resid_std)
                else:
                    nn.init.normal_(p, 0.0, 0.02)

        def forward(self, idx):
            B, T = idx.shape
            x = self.tok(idx) + self.pos.weight[:T]
            for b in self.blocks:
                x = b(x, self.mask)
            return self.head(self.ln_f(x))

        def step(self, idx, pos, caches):
            """idx: [B,1] tokens at position pos; returns logits [B,V] and new caches."""
            x = self.tok(idx) + self.pos.weight[pos:pos + 1]
            new = []
            for b, c in zip(self.blocks, caches):
                x, c = b.step(x, c)
                new.append(c)
            return self.head(self.ln_f(x))[:, -1, :], new

    return GPT(args.vocab, args.ctx, args.d, args.layers, args.heads)


def run_train(torch, args, model, common):
    F = torch.nn.functional
    total = args.warmup + args.steps
    dev = torch.device(args.device)
    data = [(torch.tensor(x, dtype=torch.long, device=dev), torch.tensor(y, dtype=torch.long, device=dev))
            for x, y in make_batches(total, args.batch, args.ctx, args.vocab, args.seed)]
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    model.train()
    times, losses = [], []
    for i, (x, y) in enumerate(data):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        logits = model(x)
        loss = F.cross_entropy(logits.view(-1, args.vocab), y.view(-1))
        loss.backward()
        opt.step()
        lv = loss.item()  # synchronises the device too
        dt = time.perf_counter() - t0
        losses.append(lv)
        if i >= args.warmup:
            times.append(dt * 1000.0)
    med = statistics.median(times)
    out = dict(common, mode="train",
               ms_per_step_median=round(med, 3),
               ms_per_step_all=[round(t, 3) for t in times],
               tokens_per_s=round(args.batch * args.ctx / (med / 1000.0), 1),
               loss_first=round(losses[0], 5), loss_last=round(losses[-1], 5),
               steps=args.steps, warmup=args.warmup)
    return out


def run_decode(torch, args, model, common):
    model.eval()
    dev = torch.device(args.device)
    gen = torch.Generator(device=dev).manual_seed(args.seed)

    def generate(n):
        tok = torch.zeros((args.batch, 1), dtype=torch.long, device=dev)  # prompt: token 0 at pos 0
        caches = [None] * len(model.blocks)
        for pos in range(n):
            logits, caches = model.step(tok, pos, caches)
            probs = torch.softmax(logits, dim=-1)
            tok = torch.multinomial(probs, 1, generator=gen)
        return tok

    with torch.no_grad():
        generate(min(8, args.new_tokens))  # warm-up
        gens = []
        for _ in range(3):
            t0 = time.perf_counter()
            last = generate(args.new_tokens)
            int(last[0, 0])  # materialise the final sample
            gens.append((time.perf_counter() - t0) * 1000.0)
    med = statistics.median(gens)
    out = dict(common, mode="decode", batch=args.batch, new_tokens=args.new_tokens,
               ms_per_token_step_median=round(med / args.new_tokens, 4),
               ms_per_generation_median=round(med, 3),
               ms_per_generation_all=[round(g, 3) for g in gens],
               tokens_per_s=round(args.batch * args.new_tokens / (med / 1000.0), 1))
    return out


def main(argv=None):
    args = parse_args(argv)
    if args.blas_threads is not None:
        os.environ["OPENBLAS_NUM_THREADS"] = str(args.blas_threads)
    elif "OPENBLAS_NUM_THREADS" not in os.environ:
        os.environ["OPENBLAS_NUM_THREADS"] = str(DEFAULT_BLAS_THREADS)
    try:
        import torch
    except Exception:  # noqa: BLE001 - ImportError, or OSError from a missing shared lib
        print(json.dumps({"impl": "pytorch", "error": INSTALL_HINT}))
        sys.stdout.flush()
        return 3
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    model = build(torch, args).to(torch.device(args.device))
    common = {
        "device": args.device if args.device == "cpu" else f"{args.device} ({torch.cuda.get_device_name(0)})",
        "impl": "pytorch",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "blas_threads": openblas_threads(),
        "params": sum(p.numel() for p in model.parameters()),
        "config": {"vocab": args.vocab, "d": args.d, "layers": args.layers,
                   "heads": args.heads, "ctx": args.ctx, "batch": args.batch,
                   "seed": args.seed},
        "openblas_env": {k: v for k, v in sorted(os.environ.items())
                         if k.startswith("OPENBLAS")},
    }
    if args.mode == "train":
        out = run_train(torch, args, model, common)
    else:
        out = run_decode(torch, args, model, common)
    # key order: impl, mode first for readability
    ordered = {"impl": out.pop("impl"), "mode": out.pop("mode")}
    ordered.update(out)
    print(json.dumps(ordered))
    return 0


if __name__ == "__main__":
    sys.exit(main())
