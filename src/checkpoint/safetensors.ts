/**
 * Reader/writer for the safetensors format (https://github.com/huggingface/safetensors), F32 and I32 only.
 *
 *   [8 bytes]  N, little-endian u64: length of the header
 *   [N bytes]  UTF-8 JSON header, padded with spaces so that N is a multiple of 8:
 *              {"__metadata__": {string: string}, "name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...}
 *   [rest]     raw little-endian tensor data; offsets are relative to the start of this section,
 *              tensors are contiguous, in order, with no gaps and nothing after the last one.
 *
 * Pure TypeScript on plain typed arrays; no tfjs here.
 */
import { SelfcestError } from '../util/errors.ts';

export type StDtype = 'F32' | 'I32';

export interface NamedTensor {
  name: string;
  shape: number[];
  dtype: StDtype;
  data: Float32Array | Int32Array;
}

const BYTES_PER_ELEMENT: Record<StDtype, number> = { F32: 4, I32: 4 };
const METADATA_KEY = '__metadata__';
/** Same limit as the reference implementation: a larger header is certainly a corrupt file. */
const MAX_HEADER_BYTES = 100_000_000;
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function isDtype(x: unknown): x is StDtype {
  return typeof x === 'string' && Object.prototype.hasOwnProperty.call(BYTES_PER_ELEMENT, x);
}

function isShape(x: unknown): x is number[] {
  return Array.isArray(x) && x.every((d) => Number.isSafeInteger(d) && d >= 0);
}

function numel(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function fmtShape(shape: unknown): string {
  return JSON.stringify(shape);
}

/** Raw little-endian bytes of a typed array (a view when the host is little-endian, a copy otherwise). */
function littleEndianBytes(data: Float32Array | Int32Array): Uint8Array {
  if (LITTLE_ENDIAN_HOST) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.byteLength);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) {
    if (data instanceof Float32Array) view.setFloat32(i * 4, data[i], true);
    else view.setInt32(i * 4, data[i], true);
  }
  return out;
}

/** A fresh, aligned typed array holding `src` (little-endian bytes, any alignment). */
function typedArrayFrom(dtype: StDtype, src: Uint8Array): Float32Array | Int32Array {
  const n = src.byteLength / BYTES_PER_ELEMENT[dtype];
  const out = dtype === 'F32' ? new Float32Array(n) : new Int32Array(n);
  if (LITTLE_ENDIAN_HOST) {
    new Uint8Array(out.buffer).set(src);
  } else {
    const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
    for (let i = 0; i < n; i++) out[i] = dtype === 'F32' ? view.getFloat32(i * 4, true) : view.getInt32(i * 4, true);
  }
  return out;
}

export function encodeSafetensors(tensors: NamedTensor[], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new SelfcestError(`safetensors metadata "${k}" must be a string, got ${typeof v}`);
    }
    header[METADATA_KEY] = metadata;
  }
  const seen = new Set<string>();
  let offset = 0;
  for (const t of tensors) {
    const where = `tensor "${t.name}"`;
    if (t.name === '' || t.name === METADATA_KEY) throw new SelfcestError(`safetensors: invalid tensor name "${t.name}"`);
    if (seen.has(t.name)) throw new SelfcestError(`safetensors: duplicate ${where}`);
    seen.add(t.name);
    if (!isDtype(t.dtype)) throw new SelfcestError(`safetensors: ${where}: unsupported dtype ${JSON.stringify(t.dtype)}`);
    if (!isShape(t.shape)) throw new SelfcestError(`safetensors: ${where}: invalid shape ${fmtShape(t.shape)}`);
    const expectedArray = t.dtype === 'F32' ? Float32Array : Int32Array;
    if (!(t.data instanceof expectedArray)) {
      throw new SelfcestError(`safetensors: ${where}: dtype ${t.dtype} needs a ${expectedArray.name}, got ${t.data?.constructor?.name}`);
    }
    if (t.data.length !== numel(t.shape)) {
      throw new SelfcestError(`safetensors: ${where}: shape ${fmtShape(t.shape)} needs ${numel(t.shape)} elements, got ${t.data.length}`);
    }
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }

  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLen = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLen + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLen), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen); // pad with spaces
  let pos = 8 + headerLen;
  for (const t of tensors) {
    out.set(littleEndianBytes(t.data), pos);
    pos += t.data.byteLength;
  }
  return out;
}

/**
 * Parse and fully validate a safetensors file. Tensors come back in file (data offset) order, with their data copied
 * into fresh aligned arrays. Any problem throws a SelfcestError naming `file` and the tensor or field at fault.
 */
export function decodeSafetensors(
  bytes: Uint8Array,
  file = '<memory>',
): { tensors: Map<string, NamedTensor>; metadata: Record<string, string> } {
  const fail = (msg: string): never => {
    throw new SelfcestError(`${file}: ${msg}`);
  };
  if (bytes.byteLength < 8) fail(`file is ${bytes.byteLength} bytes, too short for the 8-byte header length (truncated?)`);
  const headerLen = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true);
  if (headerLen > BigInt(bytes.byteLength - 8)) {
    fail(`header length ${headerLen} exceeds the ${bytes.byteLength - 8} bytes after the length prefix (truncated or not a safetensors file?)`);
  }
  if (headerLen > BigInt(MAX_HEADER_BYTES)) fail(`header length ${headerLen} is larger than ${MAX_HEADER_BYTES} bytes`);
  const n = Number(headerLen);

  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    fail(`header is not valid UTF-8 JSON: ${(e as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object');

  const dataStart = 8 + n;
  const dataLen = bytes.byteLength - dataStart;
  const metadata: Record<string, string> = {};
  const entries: { name: string; dtype: StDtype; shape: number[]; begin: number; end: number }[] = [];

  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA_KEY) {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) fail(`"${METADATA_KEY}" is not an object`);
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`"${METADATA_KEY}" field "${k}" is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    const where = `tensor "${name}"`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) fail(`${where}: entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
    if (!isDtype(dtype)) fail(`${where}: unknown dtype ${JSON.stringify(dtype)} (supported: ${Object.keys(BYTES_PER_ELEMENT).join(', ')})`);
    if (!isShape(shape)) fail(`${where}: shape ${fmtShape(shape)} is not an array of non-negative integers`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      fail(`${where}: data_offsets ${fmtShape(offsets)} is not a pair of non-negative integers`);
    }
    const [begin, end] = offsets as number[];
    const size = numel(shape as number[]) * BYTES_PER_ELEMENT[dtype as StDtype];
    if (end - begin !== size) {
      fail(`${where}: data_offsets ${fmtShape(offsets)} do not match shape ${fmtShape(shape)} ${dtype} (${size} bytes)`);
    }
    if (end > dataLen) fail(`${where}: data_offsets ${fmtShape(offsets)} run past the end of the data section (${dataLen} bytes; truncated?)`);
    entries.push({ name, dtype: dtype as StDtype, shape: shape as number[], begin, end });
  }

  // Layout: contiguous from 0, no overlaps, no gaps, nothing trailing.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  let prev: string | null = null;
  for (const e of entries) {
    if (e.begin < expected) fail(`tensor "${e.name}": data_offsets [${e.begin},${e.end}] overlap tensor "${prev}"`);
    if (e.begin > expected) fail(`tensor "${e.name}": gap of ${e.begin - expected} bytes before data_offsets [${e.begin},${e.end}]`);
    expected = e.end;
    prev = e.name;
  }
  if (expected !== dataLen) fail(`data section is ${dataLen} bytes but the tensors cover ${expected} (${dataLen - expected} trailing bytes)`);

  const tensors = new Map<string, NamedTensor>();
  for (const e of entries) {
    const data = typedArrayFrom(e.dtype, bytes.subarray(dataStart + e.begin, dataStart + e.end));
    tensors.set(e.name, { name: e.name, shape: e.shape, dtype: e.dtype, data });
  }
  return { tensors, metadata };
}
