/**
 * The run's metrics history in the tools people use, rebuilt from metrics.jsonl (the one source of truth) before
 * every checkpoint save, so both always match the history, resume truncation included:
 *
 *   <run>/metrics.csv                              one row per step, columns in order of first appearance, nested
 *                                                  fields flattened (`phase_ms.rollout`)
 *   <run>/tb/events.out.tfevents.0.selfcest        TensorBoard event file (`tensorboard --logdir <run>/tb`): one
 *                                                  Event per step holding every numeric field as a scalar
 *
 * The event file is the documented TFRecord framing (uint64 length, masked CRC-32C of the length, the bytes,
 * masked CRC-32C of the bytes) around tensorflow.Event protos written by hand: wall_time (1, double), step (2,
 * int64), file_version (3, string; the first event, "brain.Event:2"), summary (5) { value (1) { tag (1), simple_value
 * (2, float) } }. JSONL holds no timestamps: wall_time is the run's cumulative step time in seconds (`ms`, or the
 * sum of `phase_ms`). Pure TS.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../util/jsonl.ts';

export const CSV_FILE = 'metrics.csv';
export const TB_DIR = 'tb';
export const TB_FILE = 'events.out.tfevents.0.selfcest';

/** A metrics line flattened to numeric fields (`a.b` for nested objects; non-numbers dropped, null kept as NaN). */
function flatten(o: Record<string, unknown>, prefix = '', out: Map<string, number> = new Map()): Map<string, number> {
  for (const [k, v] of Object.entries(o)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (typeof v === 'number') out.set(key, v);
    else if (v === null) out.set(key, NaN);
    else if (typeof v === 'object' && !Array.isArray(v)) flatten(v as Record<string, unknown>, key, out);
  }
  return out;
}

const csvCell = (x: number | undefined) => (x === undefined ? '' : Number.isNaN(x) ? 'NaN' : String(x));

export function metricsCsv(rows: readonly Map<string, number>[]): string {
  const cols: string[] = [];
  const seen = new Set<string>();
  for (const r of rows) for (const k of r.keys()) if (!seen.has(k)) (seen.add(k), cols.push(k));
  return [cols.join(','), ...rows.map((r) => cols.map((c) => csvCell(r.get(c))).join(','))].join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------------- TFRecord

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** CRC-32C (Castagnoli), as TFRecord uses it. */
export function crc32c(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** TFRecord's masked CRC: rotate right by 15, add a constant. */
export function maskedCrc(bytes: Uint8Array): number {
  const c = crc32c(bytes);
  return ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/** One TFRecord: length, its masked CRC, the data, its masked CRC (little-endian). */
export function tfRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(16 + data.length);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(data.length), true);
  dv.setUint32(8, maskedCrc(out.subarray(0, 8)), true);
  out.set(data, 12);
  dv.setUint32(12 + data.length, maskedCrc(data), true);
  return out;
}

// ---------------------------------------------------------------------------------------------------- protobuf

class Pb {
  private parts: number[] = [];
  varint(v: number | bigint): this {
    let x = BigInt(v);
    do {
      let b = Number(x & 0x7fn);
      x >>= 7n;
      if (x > 0n) b |= 0x80;
      this.parts.push(b);
    } while (x > 0n);
    return this;
  }
  tag(field: number, wire: number): this {
    return this.varint((field << 3) | wire);
  }
  double(field: number, v: number): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, true);
    this.tag(field, 1).parts.push(...b);
    return this;
  }
  float(field: number, v: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.tag(field, 5).parts.push(...b);
    return this;
  }
  bytes(field: number, b: Uint8Array): this {
    this.tag(field, 2).varint(b.length).parts.push(...b);
    return this;
  }
  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }
  done(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

function event(wallTime: number, step: number, body: (e: Pb) => void): Uint8Array {
  const e = new Pb().double(1, wallTime).tag(2, 0).varint(step);
  body(e);
  return e.done();
}

/** The event file of a metrics history: the version event, then one event per line with every field but `step`. */
export function tensorboardEvents(rows: readonly Map<string, number>[]): Uint8Array {
  const records: Uint8Array[] = [tfRecord(event(0, 0, (e) => e.string(3, 'brain.Event:2')))];
  let wall = 0;
  for (const r of rows) {
    const phases = [...r.entries()].filter(([k]) => k.startsWith('phase_ms.')).reduce((a, [, v]) => a + v, 0);
    wall += (r.get('ms') ?? phases) / 1000;
    const summary = new Pb();
    for (const [tag, v] of r) if (tag !== 'step') summary.bytes(1, new Pb().string(1, tag).float(2, v).done());
    records.push(tfRecord(event(wall, r.get('step') ?? 0, (e) => e.bytes(5, summary.done()))));
  }
  const out = new Uint8Array(records.reduce((n, r) => n + r.length, 0));
  let o = 0;
  for (const r of records) (out.set(r, o), (o += r.length));
  return out;
}

/** The parsed lines of a metrics.jsonl with their text; blank lines and lines torn by a crash are left out. */
export function readMetricsLines(file: string): { text: string; value: Record<string, unknown> }[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .flatMap((text) => {
      try {
        const value = JSON.parse(text) as unknown;
        return value !== null && typeof value === 'object' && !Array.isArray(value) ? [{ text, value: value as Record<string, unknown> }] : [];
      } catch {
        return []; // blank, or torn by a crash mid-write
      }
    });
}

/** Rebuild metrics.csv and the TensorBoard event file of the run directory holding `metricsFile`. */
export function exportMetrics(metricsFile: string): void {
  if (!fs.existsSync(metricsFile)) return;
  const rows = readMetricsLines(metricsFile).map((l) => flatten(l.value));
  const dir = path.dirname(metricsFile);
  writeFileAtomic(path.join(dir, CSV_FILE), metricsCsv(rows));
  writeFileAtomic(path.join(dir, TB_DIR, TB_FILE), tensorboardEvents(rows));
}
