import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { attendJs, attnKernel } from '../../src/model/host-decode.ts';
import { kvCacheKind } from '../../src/model/row-decoder.ts';
import { Rng } from '../../src/util/rng.ts';

describe('host KV cache attention kernel (src/model/attn.wat)', () => {
  for (const hd of [8, 32]) {
    it(`equals the plain-JS attention on random pages, ragged lengths and a long row (head size ${hd}: ${hd === 32 ? 'attend32' : 'attend'})`, () => {
      const k = attnKernel();
      const [B, H, C, P] = [5, 3, 40, 7];
      k.memory.grow(8);
      const m = new Float32Array(k.memory.buffer);
      const mi = new Int32Array(k.memory.buffer);
      // layout (f32 units): K, V [P,H,C,hd], q [B,H,hd], out [B,H,hd] (kernel), out2 (reference), pages, lens, scratch
      const region = P * H * C * hd;
      const [K, V, q, out, out2] = [0, region, 2 * region, 2 * region + B * H * hd, 2 * region + 2 * B * H * hd];
      const pages = out2 + B * H * hd;
      const lens = pages + B;
      const scr = lens + B;
      const rng = Rng.fromSeed(9);
      for (let i = 0; i < q + B * H * hd; i++) m[i] = 3 * (rng.next() - 0.5);
      [6, 0, 3, 5, 1].forEach((p, b) => (mi[pages + b] = p));
      [1, 17, 40, 2, 29].forEach((l, b) => (mi[lens + b] = l));
      m.fill(7, out, out + B * H * hd); // the kernel overwrites, never accumulates into, its output
      const scale = 1 / Math.sqrt(hd);
      if (hd === 32) k.attend32(B, H, C, q * 4, K * 4, V * 4, pages * 4, lens * 4, out * 4, scr * 4, scale);
      else k.attend(B, H, hd, C, q * 4, K * 4, V * 4, pages * 4, lens * 4, out * 4, scr * 4, scale);
      attendJs(m, mi, B, H, hd, C, q, K, V, pages, lens, out2, scale);
      let err = 0;
      for (let i = 0; i < B * H * hd; i++) err = Math.max(err, Math.abs(m[out + i] - m[out2 + i]));
      expect(err).toBeLessThan(1e-5);
      // a row with one slot returns that slot's value
      for (let h = 0; h < H; h++) for (let j = 0; j < hd; j++) expect(m[out + h * hd + j]).toBeCloseTo(m[V + (6 * H + h) * C * hd + j], 6);
    });
  }

  it('the committed kernel bytes are a fresh build of attn.wat', () => {
    const r = execFileSync(process.execPath, ['--import', 'tsx', 'scripts/build-wasm.ts', '--check'], { encoding: 'utf8' });
    expect(r).toMatch(/is up to date/);
  });

  it('picks the host cache on CPU backends and the tensor cache elsewhere; SELFCEST_KV_CACHE overrides', () => {
    const env = process.env.SELFCEST_KV_CACHE;
    try {
      delete process.env.SELFCEST_KV_CACHE;
      expect([kvCacheKind('wasm'), kvCacheKind('cpu'), kvCacheKind('tensorflow'), kvCacheKind('webgpu')]).toEqual(['host', 'host', 'tensor', 'tensor']);
      process.env.SELFCEST_KV_CACHE = 'tensor';
      expect(kvCacheKind('wasm')).toBe('tensor');
      process.env.SELFCEST_KV_CACHE = 'gpu';
      expect(() => kvCacheKind('wasm')).toThrow(/SELFCEST_KV_CACHE=gpu: expected host or tensor/);
    } finally {
      if (env === undefined) delete process.env.SELFCEST_KV_CACHE;
      else process.env.SELFCEST_KV_CACHE = env;
    }
  });
});
