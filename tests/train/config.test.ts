import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadRunConfig, runConfig } from '../../src/train/config.ts';
import { learningRate } from '../../src/train/schedule.ts';
import { AdditionConfigSchema, additionItem } from '../../src/tasks/addition/addition.ts';
import { Rng } from '../../src/util/rng.ts';
import { formatDuration } from '../../src/util/progress.ts';

describe('run config', () => {
  it('fills defaults in every section', () => {
    const c = runConfig({});
    expect(c.model.dModel).toBe(128);
    expect(c.train.steps).toBe(600);
    expect(c.optim.lr).toBe(3e-3);
    expect(c.addition.reversed).toBe(true);
  });

  it('applies --set overrides with JSON values and validates them', () => {
    const c = loadRunConfig(undefined, ['train.steps=12', 'model.positions=rope', 'optim.lr=1e-4']);
    expect(c.train.steps).toBe(12);
    expect(c.model.positions).toBe('rope');
    expect(c.optim.lr).toBe(1e-4);
    expect(() => loadRunConfig(undefined, ['model.positions=sinusoid'])).toThrow(/model\.positions/);
    expect(() => loadRunConfig(undefined, ['train.steps'])).toThrow(/key=value/);
  });

  it('refuses --set keys that would reach Object.prototype (they polluted every object of the process)', () => {
    for (const spec of ['__proto__.x=1', 'train.__proto__.x=1', 'constructor.prototype.x=1', 'prototype=1']) {
      expect(() => loadRunConfig(undefined, [spec]), spec).toThrow(/--set .*: "(__proto__|constructor|prototype)" is not a config key/);
      expect(({} as Record<string, unknown>).x, spec).toBeUndefined();
    }
    // a bad override leaves the base object untouched
    expect(() => loadRunConfig(undefined, ['train.steps=3', 'train.steps.x=1'])).toThrow(/"steps" is not an object/);
  });

  it('names the file and the key of a bad entry', () => {
    const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cfg-')), 'c.json');
    fs.writeFileSync(f, JSON.stringify({ model: { nLayers: 'four' } }));
    expect(() => loadRunConfig(f)).toThrow(new RegExp(`${path.basename(f)}: model\\.nLayers: .*number`));
    expect(() => loadRunConfig(path.join(path.dirname(f), 'missing.json'))).toThrow(/missing\.json: cannot read \(ENOENT\)/);
  });
});

describe('learning-rate schedule', () => {
  it('warms up linearly then decays by cosine to the floor', () => {
    expect(learningRate(0, 1, 10, 110, 0.1)).toBeCloseTo(0.1);
    expect(learningRate(9, 1, 10, 110, 0.1)).toBeCloseTo(1);
    expect(learningRate(60, 1, 10, 110, 0.1)).toBeCloseTo(0.55);
    expect(learningRate(110, 1, 10, 110, 0.1)).toBeCloseTo(0.1);
    expect(learningRate(500, 1, 10, 110, 0.1)).toBeCloseTo(0.1);
  });
});

describe('addition task', () => {
  it('writes reversed, zero-padded operands and their sum', () => {
    const cfg = AdditionConfigSchema.parse({ minDigits: 1, maxDigits: 3 });
    const rng = Rng.fromSeed(4);
    for (let i = 0; i < 200; i++) {
      const it = additionItem(rng, cfg);
      const [x, y] = it.prompt.slice(0, -1).split('+');
      const rev = (s: string) => Number([...s].reverse().join(''));
      expect(x).toHaveLength(3);
      expect(rev(x)).toBe(it.a);
      expect(rev(y)).toBe(it.b);
      expect(it.answer).toHaveLength(4);
      expect(rev(it.answer)).toBe(it.a + it.b);
    }
  });
});

describe('progress', () => {
  it('formats durations', () => {
    expect(formatDuration(5)).toBe('5s');
    expect(formatDuration(83)).toBe('1m23s');
    expect(formatDuration(7260)).toBe('2h01m');
  });
});
