"""
PyTorch cross-check of a multi-hop SFT run: the same GPT shape as configs/experiments/multihop.json (d 128,
4 layers, 4 heads, learned positions, ctx 128, tanh-GELU, pre-LN; torch_model.py), AdamW lr 2e-3 (warmup 50,
cosine to 10 % at 5,000; ours decays to 10 % too), clip 1.0; tied embeddings (ours are untied), trained on batches dumped from our own SFT stream, and the teacher-forced
lookup accuracy (%) of each set every 250 steps. Debian's torch (/usr/bin/python3; see docs/benchmarks.md):

  npx tsx scripts/crosscheck/dump-sft-rows.ts runs/experiments/multihop/configs/seed-1-sft.json 4000 /tmp/mh-rows.jsonl
  npx tsx scripts/crosscheck/dump-multihop-lookups.ts /tmp/mh-eval.json
  /usr/bin/python3 scripts/crosscheck/torch_sft.py /tmp/mh-rows.jsonl /tmp/mh-eval.json 4000 [threads]
"""
import json, math, os, sys, time, torch, torch.nn.functional as F
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_model import make_gpt
ROWS, EVAL, STEPS = sys.argv[1], sys.argv[2], int(sys.argv[3])
torch.manual_seed(1); torch.set_num_threads(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
V, CTX, D, L, H = 128, 128, 128, 4, 4
m = make_gpt(V, CTX, D, L, H)
opt = torch.optim.AdamW(m.parameters(), lr=2e-3, weight_decay=0.01, betas=(0.9, 0.95))
ev = json.load(open(EVAL))
def evaluate():
    m.eval(); r = {}
    with torch.no_grad():
        for name, rows in ev.items():
            n = ok = 0
            for row in rows:
                pred = m(torch.tensor([row['ids']]))[0].argmax(-1)
                for t in row['at']:
                    n += 1; ok += int(pred[t].item() == row['ids'][t + 1])
            r[name] = round(100 * ok / n, 1)
    m.train(); return r
steps, t0 = STEPS, time.time()
for step, line in enumerate(open(ROWS), 1):
    if step > steps: break
    b = json.loads(line)
    ids = torch.tensor(b['ids']).view(b['B'], b['T']); tg = torch.tensor(b['targets']).view(b['B'], b['T']); mk = torch.tensor(b['mask']).view(b['B'], b['T'])
    lr = 2e-3 * min(1, step / 50) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1, step / 5000))))
    for g in opt.param_groups: g['lr'] = lr
    loss = (F.cross_entropy(m(ids).reshape(-1, V), tg.reshape(-1), reduction='none') * mk.reshape(-1)).sum() / mk.sum()
    opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0); opt.step()
    if step % 250 == 0: print(step, round(loss.item(), 4), evaluate(), f'{time.time() - t0:.0f}s', flush=True)
