/**
 * Backend selection: `auto | cuda | webgpu | wasm | cpu`.
 *
 * - cuda: @tensorflow/tfjs-node-gpu (an optionalDependency: absent on machines where its install could not
 *   download libtensorflow). It silently runs on the CPU when CUDA 11.2 / cuDNN 8.1 cannot be loaded, so a GPU
 *   counts only when the native backend reports `isUsingGpuDevice === true`.
 * - webgpu: @tensorflow/tfjs-backend-webgpu on Dawn for Node (the `webgpu` package, optional). Only a real GPU
 *   adapter counts: software adapters (SwiftShader, llvmpipe/lavapipe, fallback adapters) are refused, and
 *   Dawn's null backend (which computes garbage) is never requested.
 * - wasm: the CPU workhorse, with the project-side kernel fixes (wasm-kernels.ts).
 * - cpu: pure JS, ~20x slower than wasm; the reference backend in tests.
 *
 * `auto` takes cuda when it loaded and really uses a GPU, else webgpu on a real GPU adapter, else wasm, else cpu,
 * and says which and why in one line. `cuda` or `webgpu` without a GPU is an error, never a silent fallback.
 * `auto` asks Dawn only where a GPU device node exists (gpuDeviceNodes): Dawn prints warnings from native code
 * whenever it enumerates adapters, so on a CPU machine with a software Vulkan driver (lavapipe) every command
 * would print them; `--backend webgpu` always asks. SELFCEST_WEBGPU_ALLOW_SOFTWARE=1 lets `--backend webgpu`
 * (never `auto`) run on a software adapter, for tests; SELFCEST_GPU_DEVICE_CHECK=0 makes `auto` ask Dawn anyway.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { SelfcestError } from '../util/errors.ts';
import { guardWasmMalloc, installWasmKernelFixes } from './wasm-kernels.ts';
import { registerWebgpuKernels } from './webgpu-kernels.ts';

export const BACKEND_CHOICES = ['auto', 'cuda', 'webgpu', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];
/** What actually runs: tfjs's backend name for cuda is 'tensorflow'. */
export type ActiveBackend = 'cuda' | 'webgpu' | 'wasm' | 'cpu';

export interface BackendInfo {
  name: ActiveBackend;
  /** tfjs's own name of the backend ('tensorflow' for cuda). */
  tfName: string;
  /** One line: which backend and why. */
  reason: string;
}

let current: BackendInfo | null = null;

interface CudaProbe {
  ok: boolean;
  why: string;
}

/** Try tfjs-node-gpu and check that a GPU device is really in use. Leaves tfjs on 'tensorflow' only when ok. */
async function probeCuda(): Promise<CudaProbe> {
  const pkg = '@tensorflow/tfjs-node-gpu';
  try {
    await import(pkg);
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0];
    const missing = /Cannot find (module|package)/.test(msg) || (e as { code?: string }).code === 'ERR_MODULE_NOT_FOUND';
    return {
      ok: false,
      why: missing
        ? `${pkg} is not installed (see docs/gpu.md)`
        : `${pkg} failed to load: ${msg}`,
    };
  }
  if (tf.findBackend('tensorflow') === null && !tf.engine().registryFactory['tensorflow']) {
    return { ok: false, why: `${pkg} loaded but registered no 'tensorflow' backend` };
  }
  const ok = await tf.setBackend('tensorflow');
  if (!ok) return { ok: false, why: `${pkg} loaded but its 'tensorflow' backend failed to initialise` };
  const usingGpu = (tf.backend() as unknown as { isUsingGpuDevice?: boolean }).isUsingGpuDevice === true;
  if (!usingGpu) {
    tf.removeBackend('tensorflow');
    return {
      ok: false,
      why:
        `${pkg} loaded but TensorFlow registered no GPU device (it runs on CPU without CUDA 11.2 / cuDNN 8.1 ` +
        'libraries on LD_LIBRARY_PATH; see docs/gpu.md)',
    };
  }
  return { ok: true, why: `${pkg} loaded and TensorFlow uses a GPU device` };
}

interface AdapterLike {
  info?: { vendor?: string; architecture?: string; device?: string; description?: string; isFallbackAdapter?: boolean };
  isFallbackAdapter?: boolean;
}

/** Why an adapter is not a real GPU, or null when it is one. */
export function refuseAdapter(adapter: AdapterLike | null): string | null {
  if (!adapter) return 'Dawn found no WebGPU adapter (no Vulkan/Metal/D3D12 GPU driver visible)';
  const info = adapter.info ?? {};
  if (adapter.isFallbackAdapter || info.isFallbackAdapter) return 'the only adapter is a fallback (CPU) adapter';
  const text = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ');
  if (/swiftshader|llvmpipe|lavapipe|softpipe|basic render|null backend|cpu/i.test(text)) return `the adapter is a software renderer (${text})`;
  return null;
}

/**
 * On Linux Dawn reaches GPUs through Vulkan only. Without the Vulkan loader it can find nothing, and it says so
 * on stderr from native code, so we look for the loader first and keep CPU-only runs quiet.
 */
function vulkanLoaderPresent(): boolean {
  if (process.platform !== 'linux') return true;
  const dirs = [...(process.env.LD_LIBRARY_PATH ?? '').split(':'), '/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/lib/x86_64-linux-gnu', '/usr/local/lib'];
  return dirs.some((d) => d && fs.existsSync(path.join(d, 'libvulkan.so.1')));
}

/**
 * The webgpu probe's outcome, made once per process. Each probe creates a Dawn instance, and the instance behind the
 * registered backend must stay referenced: Dawn lives only while the object create() returned does (webgpu's
 * README, "Lifetime"); a second probe dropped the first instance under the running device and the process crashed
 * at random points once it was garbage collected.
 */
let webgpuProbe: Promise<WebgpuProbe> | null = null;

interface WebgpuProbe {
  ok: boolean;
  why: string;
  /** why the adapter is not a real GPU (accepted only with SELFCEST_WEBGPU_ALLOW_SOFTWARE=1); null: a real GPU */
  software?: string | null;
  dawn?: unknown;
}

/**
 * The device nodes a hardware GPU is reached through on Linux (DRM render nodes, NVIDIA's /dev/nvidia<N>, WSL's
 * /dev/dxg); none means Dawn can find software adapters at best.
 */
export function gpuDeviceNodes(dev = '/dev'): string[] {
  const list = (d: string) => {
    try {
      return fs.readdirSync(d);
    } catch {
      return [];
    }
  };
  return [
    ...list(path.join(dev, 'dri')).filter((f) => /^renderD\d+$/.test(f)).map((f) => path.join(dev, 'dri', f)),
    ...list(dev).filter((f) => /^nvidia\d+$/.test(f) || f === 'dxg').map((f) => path.join(dev, f)),
  ];
}

async function probeWebgpuOnce(): Promise<WebgpuProbe> {
  webgpuProbe ??= probeWebgpu();
  const probe = await webgpuProbe;
  if (probe.ok && tf.getBackend() !== 'webgpu' && !(await tf.setBackend('webgpu').catch(() => false))) {
    return { ok: false, why: "tfjs's webgpu backend failed to initialise on the adapter" };
  }
  return probe;
}

/** Probe Dawn for a real GPU adapter; on success, expose it as navigator.gpu and register tfjs's webgpu backend. */
async function probeWebgpu(): Promise<WebgpuProbe> {
  if (!vulkanLoaderPresent()) return { ok: false, why: 'no Vulkan loader (libvulkan.so.1), so Dawn can reach no GPU (see docs/gpu.md)' };
  const pkg = 'webgpu';
  let dawn: { create(flags: string[]): { requestAdapter(o?: object): Promise<unknown> }; globals: object };
  try {
    dawn = (await import(pkg)) as typeof dawn;
  } catch (e) {
    return { ok: false, why: `the ${pkg} package (Dawn for Node) is not available: ${(e as Error).message.split('\n')[0]}` };
  }
  const flags = (process.env.SELFCEST_DAWN_FLAGS ?? '').split(/\s+/).filter(Boolean);
  if (flags.some((f) => /^backend=null$/i.test(f))) return { ok: false, why: "Dawn's null backend computes garbage and is refused" };
  const gpu = dawn.create(flags);
  const adapter = (await gpu.requestAdapter({ powerPreference: 'high-performance' })) as AdapterLike | null;
  const refused = refuseAdapter(adapter);
  // SELFCEST_WEBGPU_ALLOW_SOFTWARE=1 accepts a software Vulkan adapter (Mesa's lavapipe, SwiftShader): slow, but it
  // runs the webgpu code path and its tests on a machine without a GPU. Never accepted without the variable.
  const allowSoftware = process.env.SELFCEST_WEBGPU_ALLOW_SOFTWARE === '1' && adapter !== null;
  if (refused && !allowSoftware) return { ok: false, why: refused };
  Object.assign(globalThis, dawn.globals);
  // tfjs's webgpu backend asks navigator.gpu for an adapter: hand it the one vetted here
  (globalThis as { navigator?: object }).navigator = { gpu: { ...gpu, requestAdapter: async () => adapter } };
  try {
    await import('@tensorflow/tfjs-backend-webgpu');
  } catch (e) {
    return { ok: false, why: `@tensorflow/tfjs-backend-webgpu is not available: ${(e as Error).message.split('\n')[0]}` };
  }
  if (!(await tf.setBackend('webgpu').catch(() => false))) return { ok: false, why: "tfjs's webgpu backend failed to initialise on the adapter" };
  registerWebgpuKernels(); // our WGSL kernels, as the wasm fixes are installed with wasm
  const info = adapter!.info ?? {};
  return { ok: true, why: `WebGPU adapter ${[info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || '(no info)'}${refused ? ` (software, allowed by SELFCEST_WEBGPU_ALLOW_SOFTWARE=1)` : ''}`, software: refused, dawn: gpu };
}

async function useWasm(): Promise<boolean> {
  installWasmKernelFixes();
  try {
    const ok = await tf.setBackend('wasm');
    if (ok) guardWasmMalloc();
    return ok;
  } catch {
    return false;
  }
}

async function useCpu(): Promise<boolean> {
  const ok = await tf.setBackend('cpu');
  // The cpu backend prints a "use tfjs-node" banner on first write; we chose it deliberately.
  const b = tf.backend() as unknown as { firstUse?: boolean };
  if ('firstUse' in b) b.firstUse = false;
  return ok;
}

/**
 * Select and initialise a backend. Safe to call again: switching backends is allowed (tests compare wasm with
 * cpu in one process); tensors created on one backend move lazily to the other.
 */
export async function selectBackend(choice: BackendChoice = 'auto'): Promise<BackendInfo> {
  if (!(BACKEND_CHOICES as readonly string[]).includes(choice)) {
    throw new SelfcestError(`unknown backend "${choice}": expected one of ${BACKEND_CHOICES.join(', ')}`);
  }
  let info: BackendInfo;
  if (choice === 'cuda') {
    const probe = await probeCuda();
    if (!probe.ok) throw new SelfcestError(`--backend cuda: no GPU in use: ${probe.why}`);
    info = { name: 'cuda', tfName: 'tensorflow', reason: `backend: cuda (${probe.why})` };
  } else if (choice === 'webgpu') {
    const probe = await probeWebgpuOnce();
    if (!probe.ok) throw new SelfcestError(`--backend webgpu: no GPU in use: ${probe.why}`);
    info = { name: 'webgpu', tfName: 'webgpu', reason: `backend: webgpu (${probe.why})` };
  } else if (choice === 'wasm') {
    if (!(await useWasm())) throw new SelfcestError('--backend wasm: the wasm backend failed to initialise');
    info = { name: 'wasm', tfName: 'wasm', reason: 'backend: wasm (requested)' };
  } else if (choice === 'cpu') {
    await useCpu();
    info = { name: 'cpu', tfName: 'cpu', reason: 'backend: cpu (requested; pure JS, slow)' };
  } else {
    const cuda = await probeCuda();
    const noDevice = process.platform === 'linux' && process.env.SELFCEST_GPU_DEVICE_CHECK !== '0' && gpuDeviceNodes().length === 0;
    let webgpu: WebgpuProbe | null = null;
    if (!cuda.ok) {
      webgpu = noDevice ? { ok: false, why: 'no GPU device (/dev/dri/renderD*, /dev/nvidia*, /dev/dxg), so Dawn was not asked' } : await probeWebgpuOnce();
      // auto runs real work: a software adapter is never taken, whatever SELFCEST_WEBGPU_ALLOW_SOFTWARE says
      if (webgpu.ok && webgpu.software) webgpu = { ok: false, why: webgpu.software };
    }
    const noGpu = `no GPU: cuda: ${cuda.why}; webgpu: ${webgpu?.why}`;
    if (cuda.ok) {
      info = { name: 'cuda', tfName: 'tensorflow', reason: `backend: cuda (auto: ${cuda.why})` };
    } else if (webgpu?.ok) {
      info = { name: 'webgpu', tfName: 'webgpu', reason: `backend: webgpu (auto: ${webgpu.why})` };
    } else if (await useWasm()) {
      info = { name: 'wasm', tfName: 'wasm', reason: `backend: wasm (auto: ${noGpu})` };
    } else {
      await useCpu();
      info = { name: 'cpu', tfName: 'cpu', reason: `backend: cpu (auto: ${noGpu}; wasm failed to initialise)` };
    }
  }
  await tf.ready();
  current = info;
  return info;
}

/** The backend chosen by the last selectBackend call (or what tfjs runs now, if none was made). */
export function activeBackend(): ActiveBackend {
  if (current && current.tfName === tf.getBackend()) return current.name;
  const n = tf.getBackend();
  return n === 'tensorflow' ? 'cuda' : n === 'webgpu' ? 'webgpu' : n === 'wasm' ? 'wasm' : 'cpu';
}
