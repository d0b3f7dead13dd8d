// The dashboard's charts as plain geometry: whole-number count axes, category labels thinned
// or shortened so they never touch, and a ring's slices with their counts inside. The
// components (BarChart.vue, RingChart.vue) draw this as SVG; nothing here knows the DOM, so
// every rule is tested in isolation. (The charts were ECharts, 162 KB of the UI's 346 KB of
// gzipped JavaScript, for two bar charts and a ring.)

/** Slice and bar colours, each dark enough for white text on it (4.5:1 or better). */
export const PALETTE = ['#b3141b', '#1d5fbf', '#17693f', '#8a4600', '#6b3fa0', '#0e6470', '#4d4d4d'];

/** The colour of the i-th series, taking the palette round again after its last. */
export const colour = (i: number) => PALETTE[i % PALETTE.length];

/**
 * Ticks of a count axis from 0 to at least `max`: whole numbers only, a step of 1, 2 or 5
 * times a power of ten, and at most `most` steps (so at most `most + 1` ticks).
 */
export function countTicks(max: number, most = 5): number[] {
  const top = Math.max(1, Math.ceil(max));
  let step = 1;
  for (let scale = 1; ; scale *= 10) {
    const found = [1, 2, 5].map((m) => m * scale).find((s) => Math.ceil(top / s) <= most);
    if (found !== undefined) {
      step = found;
      break;
    }
  }
  const steps = Math.ceil(top / step);
  return Array.from({ length: steps + 1 }, (_, i) => i * step);
}

/** A wide character: CJK ideographs, kana, hangul and full-width forms take a whole em. */
const wide = (c: string) => /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]/u.test(c);

/**
 * The width of `text` at `size` px, from character classes: an em for a wide character,
 * 0.62 em for any other (a little more than the average Latin glyph, so an estimate errs
 * towards room). The end-to-end test measures the drawn labels in the real web view.
 */
export function textWidth(text: string, size: number): number {
  let ems = 0;
  for (const c of text) ems += wide(c) ? 1 : 0.62;
  return ems * size;
}

/**
 * Every how many category labels one is drawn so that none touch: each label gets the slots
 * up to the next drawn one, and needs its own width plus `gap`. 1 when all fit.
 */
export function labelStep(labels: string[], slot: number, size: number, gap = 6): number {
  if (slot <= 0) return Math.max(1, labels.length);
  const widest = Math.max(0, ...labels.map((l) => textWidth(l, size)));
  return Math.max(1, Math.ceil((widest + gap) / slot));
}

/** `text` cut to fit `width` at `size` px, ending in an ellipsis when cut. */
export function fitText(text: string, width: number, size: number): string {
  if (textWidth(text, size) <= width) return text;
  const chars = [...text];
  const ellipsis = textWidth('…', size);
  let used = 0;
  let kept = '';
  for (const c of chars) {
    const w = textWidth(c, size);
    if (used + w + ellipsis > width) break;
    used += w;
    kept += c;
  }
  return `${kept}…`;
}

export interface RingItem {
  name: string;
  value: number;
}

export interface RingSlice extends RingItem {
  /** The SVG path of the slice, centred on (0, 0). */
  path: string;
  colour: string;
  /** Where the slice's count is written (the middle of its arc, halfway through the ring). */
  labelX: number;
  labelY: number;
  /** False when the slice is too narrow for its count (it shows in the legend and tooltip). */
  showLabel: boolean;
  /** The share of the whole, 0–1. */
  share: number;
}

const point = (r: number, angle: number) => [r * Math.sin(angle), -r * Math.cos(angle)];
const fixed = (n: number) => Number(n.toFixed(2));

/**
 * The slices of a ring between radii `inner` and `outer`, clockwise from twelve o'clock, in
 * the order given; empty items take no slice. A slice narrower than `minAngle` degrees
 * carries no count.
 */
export function ringSlices(items: RingItem[], inner: number, outer: number, minAngle = 12): RingSlice[] {
  const total = items.reduce((sum, i) => sum + Math.max(0, i.value), 0);
  if (total <= 0) return [];
  const slices: RingSlice[] = [];
  let start = 0;
  items.forEach((item, i) => {
    if (item.value <= 0) return;
    const share = item.value / total;
    // A whole ring is drawn as two halves: an arc cannot start and end at one point.
    const sweep = Math.min(share * 2 * Math.PI, 2 * Math.PI - 1e-4);
    const end = start + sweep;
    const large = sweep > Math.PI ? 1 : 0;
    const [ox0, oy0] = point(outer, start);
    const [ox1, oy1] = point(outer, end);
    const [ix1, iy1] = point(inner, end);
    const [ix0, iy0] = point(inner, start);
    const path = [
      `M${fixed(ox0)} ${fixed(oy0)}`,
      `A${outer} ${outer} 0 ${large} 1 ${fixed(ox1)} ${fixed(oy1)}`,
      `L${fixed(ix1)} ${fixed(iy1)}`,
      `A${inner} ${inner} 0 ${large} 0 ${fixed(ix0)} ${fixed(iy0)}`,
      'Z',
    ].join(' ');
    const [labelX, labelY] = point((inner + outer) / 2, start + sweep / 2);
    slices.push({
      ...item,
      path,
      colour: colour(i),
      labelX: fixed(labelX),
      labelY: fixed(labelY),
      showLabel: (sweep * 180) / Math.PI >= minAngle,
      share,
    });
    start = end;
  });
  return slices;
}
