import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from '../src/checkpoint/safetensors.ts';
import {
  CHECKPOINT_FORMAT,
  cleanRunDir,
  findLatest,
  loadCheckpoint,
  resolveCheckpointDir,
  saveCheckpoint,
  stepDirName,
  type CheckpointData,
  type ExpectedTensor,
} from '../src/checkpoint/store.ts';
import { SelfcestError } from '../src/util/errors.ts';

const F = 'checkpoints/x/model.safetensors';

function f32(name: string, shape: number[], values?: number[]): NamedTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return { name, shape, dtype: 'F32', data: Float32Array.from(values ?? Array.from({ length: n }, (_, i) => i * 0.5 - 1)) };
}

function i32(name: string, shape: number[], values?: number[]): NamedTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return { name, shape, dtype: 'I32', data: Int32Array.from(values ?? Array.from({ length: n }, (_, i) => i - 3)) };
}

/** A safetensors file from a raw header string (padded here) and data bytes; headerLen overrides the prefix. */
function rawFile(header: string | object, data: Uint8Array = new Uint8Array(0), headerLen?: bigint): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded + data.length).fill(0x20, 8, 8 + padded);
  new DataView(out.buffer).setBigUint64(0, headerLen ?? BigInt(padded), true);
  out.set(json, 8);
  out.set(data, 8 + padded);
  return out;
}

function expectSelfcestError(fn: () => unknown, ...parts: string[]): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(SelfcestError);
  const msg = (err as Error).message;
  expect(msg).not.toContain('\n');
  for (const p of parts) expect(msg).toContain(p);
}

describe('safetensors', () => {
  it('round-trips F32 and I32 tensors with metadata, in order', () => {
    const tensors = [f32('blocks.0.attn.qkv.weight', [4, 8]), i32('steps', [3]), f32('scalar', [], [3.25]), f32('empty', [0, 5])];
    const bytes = encodeSafetensors(tensors, { format: '1', note: 'héllo' });
    const { tensors: got, metadata } = decodeSafetensors(bytes);
    expect(metadata).toEqual({ format: '1', note: 'héllo' });
    expect([...got.keys()]).toEqual(tensors.map((t) => t.name));
    for (const t of tensors) {
      const g = got.get(t.name)!;
      expect(g.dtype).toBe(t.dtype);
      expect(g.shape).toEqual(t.shape);
      expect(g.data.constructor).toBe(t.data.constructor);
      expect(Array.from(g.data)).toEqual(Array.from(t.data));
    }
  });

  it('writes the exact byte layout (length prefix, space padding to 8, offsets, little-endian data)', () => {
    const bytes = encodeSafetensors([f32('x', [2], [1, -2]), i32('y', [1], [7])]);
    const json = '{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"I32","shape":[1],"data_offsets":[8,12]}}';
    expect(json.length).toBe(108); // padded to 112
    const expected = [
      ...[112, 0, 0, 0, 0, 0, 0, 0],
      ...Buffer.from(json + '    ', 'utf8'),
      ...[0x00, 0x00, 0x80, 0x3f], // 1.0f
      ...[0x00, 0x00, 0x00, 0xc0], // -2.0f
      ...[0x07, 0x00, 0x00, 0x00], // 7
    ];
    expect(bytes.length).toBe(8 + 112 + 12);
    expect(Array.from(bytes)).toEqual(expected);
  });

  it('decodes from an unaligned buffer into fresh aligned arrays', () => {
    const bytes = encodeSafetensors([f32('w', [3], [1.5, 2.5, -3.5])]);
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    const view = shifted.subarray(1);
    const w = decodeSafetensors(view).tensors.get('w')!;
    expect(Array.from(w.data)).toEqual([1.5, 2.5, -3.5]);
    expect(w.data.byteOffset).toBe(0);
    w.data[0] = 99; // a copy, not a view of the input
    expect(decodeSafetensors(view).tensors.get('w')!.data[0]).toBe(1.5);
  });

  it('rejects bad tensors on encode', () => {
    expectSelfcestError(() => encodeSafetensors([f32('a', [2]), f32('a', [2])]), 'duplicate', '"a"');
    expectSelfcestError(() => encodeSafetensors([{ ...f32('a', [2]), shape: [3] }]), '"a"', 'needs 3 elements');
    expectSelfcestError(() => encodeSafetensors([{ ...i32('a', [2]), dtype: 'F32' }]), '"a"', 'Float32Array');
  });

  it('rejects a truncated file', () => {
    const good = encodeSafetensors([f32('blocks.0.w', [4, 8])]);
    expectSelfcestError(() => decodeSafetensors(good.subarray(0, good.length - 4), F), F, 'tensor "blocks.0.w"', 'past the end');
    expectSelfcestError(() => decodeSafetensors(good.subarray(0, 5), F), F, 'too short');
  });

  it('rejects a bad header length', () => {
    const good = encodeSafetensors([f32('w', [2])]);
    const bad = good.slice();
    new DataView(bad.buffer).setBigUint64(0, 1n << 40n, true);
    expectSelfcestError(() => decodeSafetensors(bad, F), F, 'header length 1099511627776 exceeds');
  });

  it('rejects a header that is not JSON', () => {
    expectSelfcestError(() => decodeSafetensors(rawFile('{"w": {"dtype": '), F), F, 'not valid UTF-8 JSON');
    expectSelfcestError(() => decodeSafetensors(rawFile('[1,2]'), F), F, 'not a JSON object');
  });

  it('rejects an unknown dtype', () => {
    const header = { w: { dtype: 'F16', shape: [2], data_offsets: [0, 4] } };
    expectSelfcestError(() => decodeSafetensors(rawFile(header, new Uint8Array(4)), F), F, 'tensor "w"', 'unknown dtype "F16"');
  });

  it('rejects a bad shape', () => {
    const header = { w: { dtype: 'F32', shape: [2, -1], data_offsets: [0, 8] } };
    expectSelfcestError(() => decodeSafetensors(rawFile(header, new Uint8Array(8)), F), F, 'tensor "w"', 'shape [2,-1]');
  });

  it('rejects offsets that do not match the shape', () => {
    const header = { 'blocks.0.attn.qkv.weight': { dtype: 'F32', shape: [4, 8], data_offsets: [0, 100] } };
    expectSelfcestError(
      () => decodeSafetensors(rawFile(header, new Uint8Array(100)), F),
      `${F}: tensor "blocks.0.attn.qkv.weight": data_offsets [0,100] do not match shape [4,8] F32 (128 bytes)`,
    );
  });

  it('rejects overlapping tensors, gaps and trailing bytes', () => {
    const overlap = {
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
    };
    expectSelfcestError(() => decodeSafetensors(rawFile(overlap, new Uint8Array(12)), F), F, 'tensor "b"', 'overlap tensor "a"');
    const gap = { a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } };
    expectSelfcestError(() => decodeSafetensors(rawFile(gap, new Uint8Array(8)), F), F, 'tensor "a"', 'gap of 4 bytes');
    const trailing = { a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } };
    expectSelfcestError(() => decodeSafetensors(rawFile(trailing, new Uint8Array(8)), F), F, '4 trailing bytes');
  });

  it('rejects non-string metadata', () => {
    const header = { __metadata__: { format: 1 } };
    expectSelfcestError(() => decodeSafetensors(rawFile(header), F), F, '"__metadata__" field "format"');
  });
});

// ---------------------------------------------------------------------------------------------------------------

function findPythonWithNumpy(): { python: string | null; reason: string } {
  for (const python of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(python, ['-c', 'import numpy'], { encoding: 'utf8' });
    if (r.status === 0) return { python, reason: '' };
  }
  return { python: null, reason: 'no python3 with numpy found (tried /usr/bin/python3, python3)' };
}

const PY_READER = `
import json, struct, sys
import numpy as np
path = sys.argv[1]
try:
    from safetensors.numpy import load_file
    arrays, how = load_file(path), "safetensors"
except ImportError:
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    data = raw[8 + n:]
    dt = {"F32": "<f4", "I32": "<i4"}
    arrays = {k: np.frombuffer(data[v["data_offsets"][0]:v["data_offsets"][1]], dtype=dt[v["dtype"]]).reshape(v["shape"])
              for k, v in header.items()}
    how = "struct+numpy"
print(json.dumps({"how": how, "tensors": {k: {"dtype": str(a.dtype), "shape": list(a.shape), "values": a.ravel().tolist()}
                                          for k, a in arrays.items()}}))
`;

describe('safetensors interop with Python', () => {
  const { python, reason } = findPythonWithNumpy();
  if (!python) console.log(`skipping Python interop test: ${reason}`);

  it.skipIf(!python)('a file we write is read correctly by a Python reader', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'selfcest-st-py-'));
    try {
      const file = path.join(dir, 'model.safetensors');
      const tensors = [f32('w', [2, 3], [0.5, -1, 2, 3.25, 1e-3, -7]), i32('ids', [4], [1, -2, 3, 2147483647])];
      fs.writeFileSync(file, encodeSafetensors(tensors, { format: '1' }));
      const r = spawnSync(python!, ['-c', PY_READER, file], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout);
      console.log(`Python interop read via ${out.how} (${python})`);
      expect(out.tensors.w).toEqual({ dtype: 'float32', shape: [2, 3], values: Array.from(tensors[0].data) });
      expect(out.tensors.ids).toEqual({ dtype: 'int32', shape: [4], values: [1, -2, 3, 2147483647] });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('checkpoint store', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'selfcest-ckpt-'));
  });
  afterEach(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const modelTensors = () => [f32('embed.weight', [5, 4]), f32('blocks.0.attn.qkv.weight', [4, 12])];
  const modelExpect: ExpectedTensor[] = [
    { name: 'embed.weight', shape: [5, 4], dtype: 'F32' },
    { name: 'blocks.0.attn.qkv.weight', shape: [4, 12], dtype: 'F32' },
  ];

  function data(step: number, extra: Record<string, unknown> = {}): CheckpointData {
    return {
      model: modelTensors(),
      optimizer: [f32('embed.weight.m', [5, 4]), i32('t', [], [step])],
      state: {
        format: CHECKPOINT_FORMAT,
        step,
        config: { dModel: 4 },
        rng: { seed: 1, state: [1, 2, 3] },
        dataCursor: { epoch: 0, offset: step * 8 },
        backend: 'cpu',
        metrics: { loss: 2.5 },
        createdAt: '2025-01-01T00:00:00.000Z',
        ...extra,
      },
    };
  }

  /** Rewrite a field of a saved state.json. */
  function editState(dir: string, edit: (s: Record<string, unknown>) => void): void {
    const file = path.join(dir, 'state.json');
    const s = JSON.parse(fs.readFileSync(file, 'utf8'));
    edit(s);
    fs.writeFileSync(file, JSON.stringify(s));
  }

  const runEntries = (run: string) => fs.readdirSync(run).sort();

  it('names step directories with at least 6 digits', () => {
    expect(stepDirName(200)).toBe('step-000200');
    expect(stepDirName(0)).toBe('step-000000');
    expect(stepDirName(12345678)).toBe('step-12345678');
    expect(() => stepDirName(-1)).toThrow(SelfcestError);
    expect(() => stepDirName(1.5)).toThrow(SelfcestError);
  });

  it('saves and loads a checkpoint round trip', () => {
    const run = path.join(tmp, 'run');
    const d = data(200, { notes: 'extra fields survive' });
    const dir = saveCheckpoint(run, d);
    expect(dir).toBe(path.join(run, 'step-000200'));
    expect(fs.readdirSync(dir).sort()).toEqual(['model.safetensors', 'optimizer.safetensors', 'state.json']);
    expect(fs.readFileSync(path.join(run, 'latest'), 'utf8').trim()).toBe('step-000200');
    expect(decodeSafetensors(fs.readFileSync(path.join(dir, 'model.safetensors'))).metadata.format).toBe('1');

    const got = loadCheckpoint(dir, { model: modelExpect });
    expect(got.state).toEqual(d.state);
    expect(got.model.map((t) => t.name)).toEqual(d.model.map((t) => t.name));
    expect(Array.from(got.model[1].data)).toEqual(Array.from(d.model[1].data));
    expect(got.optimizer[1]).toMatchObject({ name: 't', dtype: 'I32', shape: [] });
    expect(Array.from(got.optimizer[1].data)).toEqual([200]);
  });

  it('carries the tokenizer files of a policy that has its own, and refuses any other file name', () => {
    const run = path.join(tmp, 'run');
    const files = { 'tokenizer.json': '{"model":{}}', 'tokenizer_config.json': '{}\n' };
    const dir = saveCheckpoint(run, { ...data(3), files });
    expect(fs.readdirSync(dir).sort()).toEqual(['model.safetensors', 'optimizer.safetensors', 'state.json', 'tokenizer.json', 'tokenizer_config.json']);
    expect(loadCheckpoint(dir).files).toEqual(files);
    expect(loadCheckpoint(saveCheckpoint(run, data(4))).files).toBeUndefined();
    expect(() => saveCheckpoint(run, { ...data(5), files: { 'evil.sh': 'x' } as never })).toThrow(/cannot carry "evil\.sh" \(expected one of tokenizer\.json, tokenizer_config\.json\)/);
    expect(findLatest(run)).toBe(path.join(run, 'step-000004'));
  });

  it('loads a weights-only checkpoint only when the optimizer is optional', () => {
    const dir = saveCheckpoint(path.join(tmp, 'weights'), data(5));
    fs.rmSync(path.join(dir, 'optimizer.safetensors'));
    expect(() => loadCheckpoint(dir)).toThrow(/optimizer.safetensors: missing/);
    const got = loadCheckpoint(dir, { model: modelExpect }, { optimizer: 'optional' });
    expect(got.optimizer).toEqual([]);
    expect(got.model.map((t) => t.name)).toEqual(data(5).model.map((t) => t.name));
  });

  it('reads a NaN metric (written as null) back as NaN', () => {
    const dir = saveCheckpoint(tmp, data(1, { metrics: { loss: NaN, acc: 0.5 } }));
    expect(loadCheckpoint(dir).state.metrics).toEqual({ loss: NaN, acc: 0.5 });
  });

  it('points latest at the newest save and keeps only the newest K', () => {
    for (const step of [100, 200, 300, 400]) saveCheckpoint(tmp, data(step), { keep: 2 });
    expect(fs.readFileSync(path.join(tmp, 'latest'), 'utf8').trim()).toBe('step-000400');
    expect(findLatest(tmp)).toBe(path.join(tmp, 'step-000400'));
    expect(runEntries(tmp)).toEqual(['latest', 'step-000300', 'step-000400']);
  });

  it('keeps all with keep <= 0, and 3 by default', () => {
    const all = path.join(tmp, 'all');
    for (const step of [1, 2, 3, 4, 5]) saveCheckpoint(all, data(step), { keep: 0 });
    expect(runEntries(all).filter((e) => e.startsWith('step-'))).toHaveLength(5);
    const def = path.join(tmp, 'def');
    for (const step of [1, 2, 3, 4, 5]) saveCheckpoint(def, data(step));
    expect(runEntries(def)).toEqual(['latest', 'step-000003', 'step-000004', 'step-000005']);
  });

  it('never prunes the directory latest names, even when it is not the highest step', () => {
    for (const step of [100, 200, 300]) saveCheckpoint(tmp, data(step), { keep: 1 });
    saveCheckpoint(tmp, data(50), { keep: 1 }); // e.g. a restart from an earlier point that left step-000300
    expect(findLatest(tmp)).toBe(path.join(tmp, 'step-000050'));
    expect(runEntries(tmp)).toEqual(['latest', 'step-000050', 'step-000300']);
  });

  it('replaces an existing directory when the same step is saved again', () => {
    saveCheckpoint(tmp, data(7, { metrics: { loss: 1 } }));
    const dir = saveCheckpoint(tmp, data(7, { metrics: { loss: 2 } }));
    expect(loadCheckpoint(dir).state.metrics).toEqual({ loss: 2 });
    expect(runEntries(tmp)).toEqual(['latest', 'step-000007']);
  });

  it('ignores a stale .tmp-* directory and cleans it up on the next save', () => {
    saveCheckpoint(tmp, data(100));
    // A crash mid-save of step 200: complete-looking files in a temp dir, latest not updated.
    const stale = path.join(tmp, '.tmp-step-000200-99999');
    fs.cpSync(path.join(tmp, 'step-000100'), stale, { recursive: true });
    fs.writeFileSync(path.join(tmp, '.tmp-latest-99999'), 'step-000200\n');
    expect(findLatest(tmp)).toBe(path.join(tmp, 'step-000100'));
    expect(resolveCheckpointDir(tmp)).toBe(path.join(tmp, 'step-000100'));

    saveCheckpoint(tmp, data(300));
    expect(runEntries(tmp)).toEqual(['latest', 'step-000100', 'step-000300']);
  });

  it('falls back to the newest complete step directory when latest is missing or dangling', () => {
    saveCheckpoint(tmp, data(100));
    saveCheckpoint(tmp, data(200));
    fs.writeFileSync(path.join(tmp, 'latest'), 'step-000999\n');
    expect(findLatest(tmp)).toBe(path.join(tmp, 'step-000200'));
    fs.rmSync(path.join(tmp, 'latest'));
    expect(findLatest(tmp)).toBe(path.join(tmp, 'step-000200'));
    fs.rmSync(path.join(tmp, 'step-000200', 'optimizer.safetensors')); // incomplete: skipped
    expect(findLatest(tmp)).toBe(path.join(tmp, 'step-000100'));
  });

  it('findLatest returns null for an empty or missing run directory', () => {
    expect(findLatest(tmp)).toBeNull();
    expect(findLatest(path.join(tmp, 'nope'))).toBeNull();
  });

  it('resolveCheckpointDir accepts a run dir or a step dir, and explains an empty dir', () => {
    const run = path.join(tmp, 'run');
    saveCheckpoint(run, data(100));
    saveCheckpoint(run, data(200));
    expect(resolveCheckpointDir(run)).toBe(path.join(run, 'step-000200'));
    expect(resolveCheckpointDir(path.join(run, 'step-000100'))).toBe(path.join(run, 'step-000100'));
    const empty = path.join(tmp, 'empty');
    fs.mkdirSync(empty);
    expectSelfcestError(() => resolveCheckpointDir(empty), empty, 'no checkpoint found');
    expectSelfcestError(() => resolveCheckpointDir(path.join(tmp, 'missing')), 'missing', 'no such');
  });

  it('a checkpoint whose weights are not finite is refused on load, naming the file, tensor and count', () => {
    const bad = data(3);
    const w = bad.model[0].data as Float32Array;
    w[2] = NaN;
    w[5] = Infinity;
    const run = path.join(tmp, 'nan');
    saveCheckpoint(run, bad);
    expect(() => loadCheckpoint(findLatest(run)!)).toThrow(/step-000003\/model\.safetensors: tensor "embed\.weight" holds 2 non-finite values \(first at index 2\)/);
    const opt = data(4);
    (opt.optimizer[0].data as Float32Array)[0] = NaN;
    saveCheckpoint(run, opt);
    expect(() => loadCheckpoint(findLatest(run)!)).toThrow(/optimizer\.safetensors: tensor "embed\.weight\.m" holds 1 non-finite value \(first at index 0\)/);
  });

  it('cleanRunDir removes the leftovers of interrupted saves (.tmp-* entries, step directories missing a file) and names them', () => {
    const run = path.join(tmp, 'run');
    saveCheckpoint(run, data(2));
    saveCheckpoint(run, data(4));
    fs.mkdirSync(path.join(run, '.tmp-step-000006-123'));
    fs.writeFileSync(path.join(run, '.tmp-step-000006-123', 'model.safetensors'), 'partial');
    fs.writeFileSync(path.join(run, '.tmp-latest-99'), 'step-000006\n');
    fs.mkdirSync(path.join(run, 'step-000008'));
    fs.writeFileSync(path.join(run, 'step-000008', 'state.json'), '{}');
    fs.writeFileSync(path.join(run, 'metrics.jsonl'), '');
    const removed = cleanRunDir(run);
    expect(removed.sort()).toEqual(['.tmp-latest-99', '.tmp-step-000006-123', 'step-000008']);
    expect(fs.readdirSync(run).sort()).toEqual(['latest', 'metrics.jsonl', 'step-000002', 'step-000004']);
    expect(findLatest(run)).toBe(path.join(run, 'step-000004'));
    expect(cleanRunDir(run)).toEqual([]);
    expect(cleanRunDir(path.join(tmp, 'absent'))).toEqual([]);
  });

  describe('load validation', () => {
    let dir: string;
    beforeEach(() => {
      dir = saveCheckpoint(tmp, data(200));
    });
    const modelFile = () => path.join(dir, 'model.safetensors');
    const stateFile = () => path.join(dir, 'state.json');

    it('rejects a wrong expected shape', () => {
      const expect2 = [modelExpect[0], { ...modelExpect[1], shape: [4, 16] }];
      expectSelfcestError(
        () => loadCheckpoint(dir, { model: expect2 }),
        `${modelFile()}: tensor "blocks.0.attn.qkv.weight": expected [4,16] F32, found [4,12] F32`,
      );
    });

    it('rejects a wrong expected dtype', () => {
      const expect2: ExpectedTensor[] = [modelExpect[0], { ...modelExpect[1], dtype: 'I32' }];
      expectSelfcestError(() => loadCheckpoint(dir, { model: expect2 }), 'expected [4,12] I32, found [4,12] F32');
    });

    it('rejects a missing tensor', () => {
      const expect2 = [...modelExpect, { name: 'head.bias', shape: [5], dtype: 'F32' as const }];
      expectSelfcestError(() => loadCheckpoint(dir, { model: expect2 }), modelFile(), 'tensor "head.bias" is missing (expected [5] F32)');
    });

    it('rejects an unexpected tensor', () => {
      expectSelfcestError(
        () => loadCheckpoint(dir, { model: [modelExpect[0]] }),
        modelFile(),
        'unexpected tensor "blocks.0.attn.qkv.weight" ([4,12] F32)',
      );
    });

    it('checks optimizer tensors too', () => {
      const optimizer: ExpectedTensor[] = [{ name: 'embed.weight.m', shape: [5, 4], dtype: 'F32' }];
      expectSelfcestError(() => loadCheckpoint(dir, { optimizer }), 'optimizer.safetensors', 'unexpected tensor "t"');
    });

    it('rejects a wrong format version', () => {
      editState(dir, (s) => (s.format = 2));
      expectSelfcestError(() => loadCheckpoint(dir), stateFile(), 'field "format" is 2', `reads format ${CHECKPOINT_FORMAT}`);
    });

    it('rejects a missing or invalid step field', () => {
      editState(dir, (s) => delete s.step);
      expectSelfcestError(() => loadCheckpoint(dir), stateFile(), 'missing required field "step"');
      editState(dir, (s) => (s.step = -3));
      expectSelfcestError(() => loadCheckpoint(dir), stateFile(), 'field "step" must be an integer >= 0, found -3');
    });

    it('rejects a non-object config and a non-string backend', () => {
      editState(dir, (s) => (s.config = [1]));
      expectSelfcestError(() => loadCheckpoint(dir), stateFile(), 'field "config" must be an object');
      editState(dir, (s) => ((s.config = {}), (s.backend = 3)));
      expectSelfcestError(() => loadCheckpoint(dir), stateFile(), 'field "backend" must be a string');
    });

    it('rejects state.json that is not JSON', () => {
      fs.writeFileSync(stateFile(), '{"format": 1,');
      expectSelfcestError(() => loadCheckpoint(dir), stateFile(), 'invalid JSON');
    });

    it('rejects a missing or corrupt weights file', () => {
      fs.writeFileSync(modelFile(), fs.readFileSync(modelFile()).subarray(0, 100));
      expectSelfcestError(() => loadCheckpoint(dir), modelFile());
      fs.rmSync(modelFile());
      expectSelfcestError(() => loadCheckpoint(dir), modelFile(), 'missing');
    });
  });
});
