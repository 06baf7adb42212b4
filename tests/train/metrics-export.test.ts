// metrics.csv and the TensorBoard event file beside metrics.jsonl: the event file is read back with the documented
// TFRecord framing and Event proto layout (an independent decoder below), CRCs checked; both follow the history
// through a resume truncation.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { crc32c, exportMetrics } from '../../src/train/metrics-export.ts';
import { truncateMetrics } from '../../src/train/metrics.ts';

function maskedCrc(b: Uint8Array): number {
  const c = crc32c(b);
  return ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/** Read a varint at o; returns [value, next offset]. */
function varint(b: Uint8Array, o: number): [number, number] {
  let v = 0;
  let shift = 0;
  for (;;) {
    const x = b[o++];
    v += (x & 0x7f) * 2 ** shift;
    shift += 7;
    if (!(x & 0x80)) return [v, o];
  }
}

/** Decode protobuf fields: field number → list of raw values (numbers for varint/fixed, bytes for length-delimited). */
function fields(b: Uint8Array): Map<number, (number | Uint8Array)[]> {
  const out = new Map<number, (number | Uint8Array)[]>();
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let o = 0;
  while (o < b.length) {
    const [key, o1] = varint(b, o);
    const f = Math.floor(key / 8);
    const wire = key & 7;
    let v: number | Uint8Array;
    if (wire === 0) [v, o] = varint(b, o1);
    else if (wire === 1) (v = dv.getFloat64(o1, true)), (o = o1 + 8);
    else if (wire === 5) (v = dv.getFloat32(o1, true)), (o = o1 + 4);
    else if (wire === 2) {
      const [n, o2] = varint(b, o1);
      v = b.subarray(o2, o2 + n);
      o = o2 + n;
    } else throw new Error(`wire type ${wire}`);
    out.set(f, [...(out.get(f) ?? []), v]);
  }
  return out;
}

/** Every event of a TFRecord file as {step, wall, version?, scalars}; throws on a bad CRC. */
function readEvents(file: string) {
  const b = new Uint8Array(fs.readFileSync(file));
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const events = [];
  for (let o = 0; o < b.length; ) {
    const n = Number(dv.getBigUint64(o, true));
    if (dv.getUint32(o + 8, true) !== maskedCrc(b.subarray(o, o + 8))) throw new Error(`length crc at ${o}`);
    const data = b.subarray(o + 12, o + 12 + n);
    if (dv.getUint32(o + 12 + n, true) !== maskedCrc(data)) throw new Error(`data crc at ${o}`);
    o += 16 + n;
    const e = fields(data);
    const scalars: Record<string, number> = {};
    for (const s of (e.get(5) ?? []) as Uint8Array[]) {
      for (const v of fields(s).get(1) as Uint8Array[]) {
        const f = fields(v);
        scalars[new TextDecoder().decode(f.get(1)![0] as Uint8Array)] = f.get(2)![0] as number;
      }
    }
    events.push({ wall: e.get(1)![0] as number, step: (e.get(2)?.[0] as number) ?? 0, version: e.has(3) ? new TextDecoder().decode(e.get(3)![0] as Uint8Array) : undefined, scalars });
  }
  return events;
}

describe('metrics in CSV and TensorBoard', () => {
  it('CRC-32C is the Castagnoli CRC (check value of "123456789")', () => {
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
  });

  it('rebuilds both from metrics.jsonl, nested fields flattened, and follows a resume truncation', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'selfcest-export-'));
    const file = path.join(dir, 'metrics.jsonl');
    const lines = [
      { step: 1, loss: 2.5, grad_norm: 1.25, ms: 500 },
      { step: 2, loss: 2.0, grad_norm: null, ms: 250, phase_ms: { rollout: 100, update: 20 } },
      { step: 3, loss: 1.5, grad_norm: 0.5, ms: 250 },
    ];
    fs.writeFileSync(file, lines.map((l) => JSON.stringify(l) + '\n').join('') + '{"step": 4, "lo'); // a torn last line
    exportMetrics(file);
    expect(fs.readFileSync(path.join(dir, 'metrics.csv'), 'utf8')).toBe(
      'step,loss,grad_norm,ms,phase_ms.rollout,phase_ms.update\n1,2.5,1.25,500,,\n2,2,NaN,250,100,20\n3,1.5,0.5,250,,\n',
    );
    const ev = readEvents(path.join(dir, 'tb', 'events.out.tfevents.0.selfcest'));
    expect(ev[0]).toMatchObject({ version: 'brain.Event:2', step: 0 });
    expect(ev.slice(1).map((e) => e.step)).toEqual([1, 2, 3]);
    expect(ev.slice(1).map((e) => e.wall)).toEqual([0.5, 0.75, 1.0]);
    expect(ev[1].scalars).toEqual({ loss: 2.5, grad_norm: 1.25, ms: 500 });
    expect(ev[2].scalars['phase_ms.rollout']).toBe(100);
    expect(Number.isNaN(ev[2].scalars.grad_norm)).toBe(true);
    // resume at step 2: the history, the CSV and the events drop step 3
    truncateMetrics(file, 2);
    exportMetrics(file);
    expect(fs.readFileSync(path.join(dir, 'metrics.csv'), 'utf8').trim().split('\n')).toHaveLength(3);
    expect(readEvents(path.join(dir, 'tb', 'events.out.tfevents.0.selfcest')).map((e) => e.step)).toEqual([0, 1, 2]);
  });
});
