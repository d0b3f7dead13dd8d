// The dashboard charts' geometry (lib/charts.ts): whole-number count axes, labels that never
// touch, a ring's slices that add up to the whole, and colours white text can be read on.
import { describe, it, expect } from 'vitest';
import { countTicks, textWidth, labelStep, fitText, ringSlices, PALETTE } from '../src/lib/charts';

/** WCAG's contrast ratio of two #rrggbb colours. */
function contrast(a: string, b: string): number {
  const lum = (hex: string) => {
    const [r, g, bl] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255).map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
  };
  const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

describe('a count axis', () => {
  it.each([
    [0, [0, 1]],
    [1, [0, 1]],
    [3, [0, 1, 2, 3]],
    [5, [0, 1, 2, 3, 4, 5]],
    [6, [0, 2, 4, 6]],
    [7, [0, 2, 4, 6, 8]],
    [11, [0, 5, 10, 15]],
    [98, [0, 20, 40, 60, 80, 100]],
    [10_011, [0, 5000, 10_000, 15_000]],
  ])('up to %i has the ticks %j', (max, ticks) => {
    expect(countTicks(max)).toEqual(ticks);
  });

  it('has whole-number ticks, at most six, reaching the largest count, for any count', () => {
    for (let max = 0; max <= 2000; max++) {
      const ticks = countTicks(max);
      expect(ticks.every(Number.isInteger)).toBe(true);
      expect(ticks.length).toBeLessThanOrEqual(6);
      expect(ticks[ticks.length - 1]).toBeGreaterThanOrEqual(max);
      expect(ticks[0]).toBe(0);
    }
  });
});

describe('category labels', () => {
  it('measure a Chinese character as an em and a digit as less', () => {
    expect(textWidth('东岭镇', 13)).toBe(39);
    expect(textWidth('12', 10)).toBeCloseTo(12.4);
  });

  it('are all drawn when they fit their slots, and thinned out when they do not', () => {
    const names = ['东岭镇', '西坪镇', '南山乡'];
    expect(labelStep(names, 60, 13)).toBe(1);
    expect(labelStep(names, 30, 13)).toBe(2);
    expect(labelStep(names, 10, 13)).toBe(5);
  });

  it('are shortened with an ellipsis to the room they have', () => {
    expect(fitText('东岭镇', 39, 13)).toBe('东岭镇');
    const cut = fitText('城关街道办事处', 50, 13);
    expect(cut).toBe('城关街…');
    expect(textWidth(cut, 13)).toBeLessThanOrEqual(50);
  });
});

describe('a ring', () => {
  const items = [{ name: '扶贫资金检查', value: 6 }, { name: '涉黑涉恶线索', value: 0 }, { name: '三资核查', value: 3 }, { name: '作风问题', value: 1 }];

  it('has a slice per kind with records, in order, sharing the whole', () => {
    const slices = ringSlices(items, 60, 100);
    expect(slices.map((s) => s.name)).toEqual(['扶贫资金检查', '三资核查', '作风问题']);
    expect(slices.reduce((sum, s) => sum + s.share, 0)).toBeCloseTo(1);
    // Each keeps its kind's colour whether or not an earlier kind is empty.
    expect(slices.map((s) => s.colour)).toEqual([PALETTE[0], PALETTE[2], PALETTE[3]]);
    // The first slice starts at twelve o'clock; a share over half takes the long arc.
    expect(slices[0].path.startsWith('M0 -100 A100 100 0 1 1')).toBe(true);
  });

  it('writes a count inside its slice, halfway through the ring, when the slice is wide enough', () => {
    const slices = ringSlices([{ name: 'a', value: 1 }, { name: 'b', value: 1 }, { name: 'c', value: 98 }], 60, 100);
    expect(slices.map((s) => s.showLabel)).toEqual([false, false, true]);
    for (const s of slices) expect(Math.hypot(s.labelX, s.labelY)).toBeCloseTo(80, 1);
  });

  it('draws one kind alone as a whole ring, and nothing for no records', () => {
    const [whole] = ringSlices([{ name: 'a', value: 4 }], 60, 100);
    expect(whole.share).toBe(1);
    expect(whole.showLabel).toBe(true);
    expect(ringSlices([{ name: 'a', value: 0 }], 60, 100)).toEqual([]);
  });
});

describe('the palette', () => {
  it('carries white text at 4.5:1 or better on every colour', () => {
    for (const c of PALETTE) expect(contrast(c, '#ffffff'), c).toBeGreaterThanOrEqual(4.5);
  });
});
