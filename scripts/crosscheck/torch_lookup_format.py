"""
How fast a small GPT learns the multi-hop one-hop lookup, by text format: lookup drills only, generated here
(4-7 entities of 20 one-letter names, 2 of 4 relations each, up to 6 queries per row, batch 8, AdamW lr 2e-3
after 50 warmup steps, clip 1.0), the GPT of torch_sft.py (ctx 160), lookup accuracy (%) on 100 held-out rows
every 250 steps. FORMAT: dot (`B.b=O`, the tiny preset's facts style), compact (`BbO`: the value follows the
relation), terse (`B:pH,bO` paragraphs, `B.b=O;` steps).

  /usr/bin/python3 scripts/crosscheck/torch_lookup_format.py dot 3000
  D=64 L=2 /usr/bin/python3 scripts/crosscheck/torch_lookup_format.py dot 20000   (a smaller GPT: width D, L layers; LR sets the learning rate)
  B=32 NMIN=2 NMAX=3 ... (B rows per batch; NMIN..NMAX entities per world in training, held-out rows keep 4-7)
  ROPE=1 ... (rotary positions instead of learned ones)
  FACTS=1 ... (facts per entity, default 2; with 1 the entity alone is the key: a one-token key)
"""
import os, random, sys, time, torch, torch.nn.functional as F
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_model import make_gpt
fmt, steps = sys.argv[1], int(sys.argv[2])
assert fmt in ('dot', 'compact', 'terse'), 'FORMAT is dot, compact or terse'
torch.manual_seed(1); torch.set_num_threads(1); rnd = random.Random(1)
NAMES = [chr(65 + i) for i in range(20)]; RELS = 'pbmd'; FACTS = int(os.environ.get('FACTS', 2))
chars = sorted(set(''.join(NAMES) + RELS + '.=,;?|>$'))
stoi = {c: i + 1 for i, c in enumerate(chars)}; V = len(stoi) + 1
def fact(e, r, v): return {'dot': f'{e}.{r}={v}', 'compact': f'{e}{r}{v}', 'terse': None}[fmt]
def item(nmin=4, nmax=7):
    n = rnd.randint(nmin, nmax); ents = rnd.sample(NAMES, n)
    world = [(e, [(r, rnd.choice([x for x in ents if x != e])) for r in rnd.sample(RELS, FACTS)]) for e in ents]
    facts = [(e, r, v) for e, fs in world for r, v in fs]
    qs = rnd.sample(facts, min(6, len(facts)))
    if fmt == 'terse':
        paras = '|'.join(f'{e}:' + ','.join(r + v for r, v in fs) for e, fs in world)
        q = ','.join(f'{e}.{r}' for e, r, v in qs); gen = ''.join(f'{e}.{r}={v};' for e, r, v in qs)
    else:
        paras = '|'.join(','.join(fact(e, r, v) for r, v in fs) for e, fs in world)
        q = ','.join(fact(e, r, '')[:-1] if fmt == 'dot' else e + r for e, r, v in qs); gen = ''.join(fact(e, r, v) + ';' for e, r, v in qs)
    s = q + '?' + paras + '>'
    ids = [stoi[c] for c in s + gen]
    # positions whose next token is a looked-up value
    at, k = [], len(s)
    for e, r, v in qs:
        f = (f'{e}.{r}={v}' if fmt in ('dot', 'terse') else f'{e}{r}{v}')
        at.append(k + len(f) - 2); k += len(f) + 1
    return ids, len(s), at
D, L, H, CTX = int(os.environ.get('D', 128)), int(os.environ.get('L', 4)), 4, 160
m = make_gpt(V, CTX, D, L, H, rope=os.environ.get('ROPE') == '1'); LR = float(os.environ.get('LR', 2e-3))
opt = torch.optim.AdamW(m.parameters(), lr=LR, weight_decay=0.01, betas=(0.9, 0.95))
evs = [item() for _ in range(100)]
def evaluate():
    m.eval(); n = ok = 0
    with torch.no_grad():
        for ids, pl, at in evs:
            pred = m(torch.tensor([ids]))[0].argmax(-1)
            for t in at: n += 1; ok += int(pred[t].item() == ids[t + 1])
    m.train(); return round(100 * ok / n, 1)
t0 = time.time(); B = int(os.environ.get('B', 8)); NMIN, NMAX = int(os.environ.get('NMIN', 4)), int(os.environ.get('NMAX', 7))
for step in range(1, steps + 1):
    batch = [item(NMIN, NMAX) for _ in range(B)]; T = max(len(x[0]) for x in batch)
    ids = torch.zeros(B, T, dtype=torch.long); mk = torch.zeros(B, T)
    for i, (x, pl, at) in enumerate(batch): ids[i, :len(x)] = torch.tensor(x); mk[i, pl - 1:len(x) - 1] = 1
    lr = LR * min(1, step / 50)
    for g in opt.param_groups: g['lr'] = lr
    logits = m(ids[:, :-1]); loss = (F.cross_entropy(logits.reshape(-1, V), ids[:, 1:].reshape(-1), reduction='none') * mk[:, :-1].reshape(-1)).sum() / mk.sum()
    opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0); opt.step()
    if step % 250 == 0: print(fmt, step, round(loss.item(), 4), evaluate(), f'{time.time() - t0:.0f}s', flush=True)
