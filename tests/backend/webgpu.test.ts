import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it, expect } from 'vitest';
import { gpuDeviceNodes, refuseAdapter, selectBackend } from '../../src/backend/select.ts';
import { modelConfig } from '../../src/model/config.ts';
import { expectAgreesWithCpu, webgpuUnavailable } from '../helpers.ts';

// Is a webgpu adapter available here (a GPU, or lavapipe: tests opt in to software adapters)? Without one the
// webgpu tests skip and say why.
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

  it.runIf(process.platform === 'linux')('--backend webgpu refuses a software adapter unless SELFCEST_WEBGPU_ALLOW_SOFTWARE=1', () => {
    const r = selectInChild('webgpu', { SELFCEST_WEBGPU_ALLOW_SOFTWARE: undefined });
    // where Dawn finds lavapipe (CI): refused by name; on a GPU box: taken; elsewhere: no adapter
    if (/llvmpipe|lavapipe|fallback|software/i.test(r.out)) expect(r.out).toMatch(/^error: --backend webgpu: no GPU in use: .*(software|fallback)/);
    else expect(r.out).toMatch(/^(backend: webgpu \(WebGPU adapter|error: --backend webgpu: no GPU in use)/);
  });

  it('--backend webgpu without an adapter is an error with the reason, never a silent fallback', async () => {
    if (!why) return; // an adapter is present: covered by the model test below
    expect(why).toMatch(/^--backend webgpu: no GPU in use: /);
    await expect(selectBackend('webgpu')).rejects.toThrow(/no GPU in use/);
  });
});

/** selectBackend(choice) in a fresh process (the webgpu probe is made once per process): its reason and stderr. */
function selectInChild(choice: string, env: Record<string, string | undefined> = {}) {
  const code = `const m = await import('./src/backend/select.ts'); try { console.log((await m.selectBackend('${choice}')).reason); } catch (e) { console.log('error: ' + e.message); }`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8', env: { ...process.env, ...env } });
  return { out: r.stdout.trim(), err: r.stderr };
}

describe('webgpu probing stays quiet unless webgpu is asked for', () => {
  it('finds GPU device nodes: DRM render nodes, NVIDIA devices, WSL dxg', () => {
    const dev = fs.mkdtempSync(path.join(os.tmpdir(), 'dev-'));
    expect(gpuDeviceNodes(dev)).toEqual([]);
    fs.mkdirSync(path.join(dev, 'dri'));
    fs.writeFileSync(path.join(dev, 'dri', 'card0'), '');
    fs.writeFileSync(path.join(dev, 'nvidiactl'), '');
    expect(gpuDeviceNodes(dev)).toEqual([]); // a card node alone, or the control device, is no compute device
    fs.writeFileSync(path.join(dev, 'dri', 'renderD128'), '');
    fs.writeFileSync(path.join(dev, 'nvidia0'), '');
    fs.writeFileSync(path.join(dev, 'dxg'), '');
    expect(gpuDeviceNodes(dev).sort()).toEqual([path.join(dev, 'dri', 'renderD128'), path.join(dev, 'dxg'), path.join(dev, 'nvidia0')].sort());
  });

  it.runIf(process.platform === 'linux' && gpuDeviceNodes().length === 0)('auto on a machine without a GPU device prints no Dawn warning and takes wasm, even with software adapters allowed', () => {
    for (const env of [{}, { SELFCEST_WEBGPU_ALLOW_SOFTWARE: '1' }]) {
      const r = selectInChild('auto', env);
      expect(r.out).toMatch(/^backend: wasm \(auto: no GPU: .*webgpu: no GPU device/);
      expect(r.err).not.toMatch(/Warning|Vulkan|dawn/i);
    }
  });

  it.runIf(process.platform === 'linux')('auto never takes a software adapter, allowed or not', () => {
    const r = selectInChild('auto', { SELFCEST_WEBGPU_ALLOW_SOFTWARE: '1', SELFCEST_GPU_DEVICE_CHECK: '0' });
    expect(r.out).toMatch(/^backend: (wasm|cuda|webgpu) /);
    if (r.out.startsWith('backend: webgpu')) expect(r.out).not.toMatch(/llvmpipe|lavapipe|swiftshader|software/i);
  });
});

describe.runIf(!why)('the model on webgpu', () => {
  for (const over of [{}, { positions: 'rope' as const }, { tieEmbeddings: true }, { positions: 'rope' as const, norm: 'rms' as const, mlp: 'swiglu' as const, bias: false }]) {
    it(`forward and all gradients agree with cpu within 1e-3 (${JSON.stringify(over)})`, async () => {
      const cfg = modelConfig({ vocabSize: 32, ctx: 24, dModel: 32, nLayers: 2, nHeads: 4, initStd: 0.2, ...over });
      await expectAgreesWithCpu('webgpu', cfg, 1e-3);
    });
  }
});
