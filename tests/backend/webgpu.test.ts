import { describe, it, expect } from 'vitest';
import { refuseAdapter, selectBackend } from '../../src/backend/select.ts';
import { modelConfig } from '../../src/model/config.ts';
import { expectAgreesWithCpu, webgpuUnavailable } from '../helpers.ts';

// Is a real GPU adapter available here? On machines without one the GPU tests skip and say why.
const why = await webgpuUnavailable();
if (why) console.log(`webgpu model tests skipped: ${why}`);

describe('webgpu backend selection', () => {
  it('refuses missing, fallback and software adapters, accepts a real GPU', () => {
    expect(refuseAdapter(null)).toMatch(/no WebGPU adapter/);
    expect(refuseAdapter({ isFallbackAdapter: true })).toMatch(/fallback/);
    expect(refuseAdapter({ info: { vendor: 'google', architecture: 'swiftshader', description: 'SwiftShader Device (Subzero)' } })).toMatch(/software renderer/);
    expect(refuseAdapter({ info: { vendor: 'mesa', description: 'llvmpipe (LLVM 15.0.6, 256 bits)' } })).toMatch(/software renderer/);
    expect(refuseAdapter({ info: { vendor: 'nvidia', architecture: 'hopper', description: 'NVIDIA H100 80GB HBM3' } })).toBeNull();
  });

  it('--backend webgpu without a GPU adapter is an error with the reason, never a silent fallback', async () => {
    if (!why) return; // a GPU is present: covered by the model test below
    expect(why).toMatch(/^--backend webgpu: no GPU in use: /);
    await expect(selectBackend('webgpu')).rejects.toThrow(/no GPU in use/);
  });
});

describe.runIf(!why)('the model on webgpu', () => {
  for (const over of [{}, { positions: 'rope' as const }, { tieEmbeddings: true }]) {
    it(`forward and all gradients agree with cpu within 1e-3 (${JSON.stringify(over)})`, async () => {
      const cfg = modelConfig({ vocabSize: 32, ctx: 24, dModel: 32, nLayers: 2, nHeads: 4, initStd: 0.2, ...over });
      await expectAgreesWithCpu('webgpu', cfg, 1e-3);
    });
  }
});
