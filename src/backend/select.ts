/**
 * Backend selection: `auto | cuda | wasm | cpu`.
 *
 * - cuda: @tensorflow/tfjs-node-gpu (an optionalDependency: absent on machines where its install could not
 *   download libtensorflow). It silently runs on the CPU when CUDA 11.2 / cuDNN 8.1 cannot be loaded, so a GPU
 *   counts only when the native backend reports `isUsingGpuDevice === true`.
 * - wasm: the CPU workhorse, with the project-side kernel fixes (wasm-kernels.ts).
 * - cpu: pure JS, ~20x slower than wasm; the reference backend in tests.
 *
 * `auto` takes cuda when it loaded and really uses a GPU, else wasm, else cpu, and says which and why in one line.
 * `cuda` without a GPU is an error, never a silent fallback.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { SelfcestError } from '../util/errors.ts';
import { installWasmKernelFixes } from './wasm-kernels.ts';

export const BACKEND_CHOICES = ['auto', 'cuda', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];
/** What actually runs: tfjs's backend name for cuda is 'tensorflow'. */
export type ActiveBackend = 'cuda' | 'wasm' | 'cpu';

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

async function useWasm(): Promise<boolean> {
  installWasmKernelFixes();
  try {
    return await tf.setBackend('wasm');
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
  } else if (choice === 'wasm') {
    if (!(await useWasm())) throw new SelfcestError('--backend wasm: the wasm backend failed to initialise');
    info = { name: 'wasm', tfName: 'wasm', reason: 'backend: wasm (requested)' };
  } else if (choice === 'cpu') {
    await useCpu();
    info = { name: 'cpu', tfName: 'cpu', reason: 'backend: cpu (requested; pure JS, slow)' };
  } else {
    const probe = await probeCuda();
    if (probe.ok) {
      info = { name: 'cuda', tfName: 'tensorflow', reason: `backend: cuda (auto: ${probe.why})` };
    } else if (await useWasm()) {
      info = { name: 'wasm', tfName: 'wasm', reason: `backend: wasm (auto: no GPU: ${probe.why})` };
    } else {
      await useCpu();
      info = { name: 'cpu', tfName: 'cpu', reason: `backend: cpu (auto: no GPU: ${probe.why}; wasm failed to initialise)` };
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
  return n === 'tensorflow' ? 'cuda' : n === 'wasm' ? 'wasm' : 'cpu';
}
