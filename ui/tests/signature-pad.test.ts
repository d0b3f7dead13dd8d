/// <reference types="node" />
// 签字: the stroke model, its JSON, the smoothed path, the PNG made from the strokes (checked
// by decoding it with Node's zlib), and the pad itself driven by pointer events as a finger,
// a pen or a mouse would (jsdom has neither PointerEvent nor a canvas: both are stood in for).
import { describe, it, expect, beforeEach, afterEach, vi } from 'vitest';
import { mount, type VueWrapper } from '@vue/test-utils';
import { inflateSync } from 'node:zlib';
import './setup';
import SignaturePad from '../src/components/SignaturePad.vue';
import {
  SignatureModel, BASE_WIDTH, EXPORT_SCALE, MARGIN, MAX_PNG_WIDTH, PNG_SIGNATURE,
  crc32, drawStrokes, encodePng, inkBounds, lineWidth, parseStrokes, pressureOf, rasterize,
  signaturePng, signedPayload, strokeSegments, strokesJson, zlibDeflate,
  type InkContext, type SignedPayload, type Stroke,
} from '../src/lib/signature';

// ---- helpers

interface Chunk { type: string; data: Uint8Array; crcOk: boolean }

function chunks(png: Uint8Array): Chunk[] {
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const out: Chunk[] = [];
  for (let at = 8; at < png.length; ) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(...png.subarray(at + 4, at + 8));
    const data = png.subarray(at + 8, at + 8 + length);
    const crc = view.getUint32(at + 8 + length);
    out.push({ type, data, crcOk: crc === crc32(png.subarray(at + 4, at + 8 + length)) });
    at += 12 + length;
  }
  return out;
}

/** A grey PNG decoded: its size and pixels (filters None, Sub, Up undone). */
function decodePng(png: Uint8Array): { width: number; height: number; pixels: Uint8Array } {
  const list = chunks(png);
  const ihdr = new DataView(list[0].data.buffer, list[0].data.byteOffset, 13);
  const width = ihdr.getUint32(0);
  const height = ihdr.getUint32(4);
  const raw = new Uint8Array(inflateSync(Buffer.concat(list.filter((c) => c.type === 'IDAT').map((c) => c.data))));
  expect(raw.length).toBe((width + 1) * height);
  const pixels = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (width + 1)];
    expect([0, 1, 2]).toContain(filter);
    for (let x = 0; x < width; x++) {
      const v = raw[y * (width + 1) + 1 + x];
      const left = filter === 1 && x > 0 ? pixels[y * width + x - 1] : 0;
      const up = filter === 2 && y > 0 ? pixels[(y - 1) * width + x] : 0;
      pixels[y * width + x] = (v + left + up) & 0xff;
    }
  }
  return { width, height, pixels };
}

const pt = (x: number, y: number, t = 0, p = 0.5) => ({ x, y, t, p });

/** A context that records what is drawn. */
function recorder() {
  const calls: string[] = [];
  const ctx = {
    lineWidth: 1, lineCap: 'butt', lineJoin: 'miter', strokeStyle: '#000', fillStyle: '#000',
    beginPath: () => calls.push('beginPath'),
    moveTo: () => calls.push('moveTo'),
    quadraticCurveTo: () => calls.push('quadraticCurveTo'),
    stroke: () => calls.push('stroke'),
    arc: () => calls.push('arc'),
    fill: () => calls.push('fill'),
    setTransform: () => calls.push('setTransform'),
    clearRect: () => calls.push('clearRect'),
  };
  return { ctx, calls };
}

// ---- the model

describe('the stroke model', () => {
  it('keeps points in CSS px to 0.1, times from the first point, pressure for pens only', () => {
    const m = new SignatureModel();
    m.setSize(600, 200);
    m.begin(10.04, 20.06, 5000, pressureOf('pen', 0.8));
    m.extend(30.15, 40.44, 5016, pressureOf('pen', 0.9));
    m.end(50, 60, 5033, pressureOf('pen', 0.7));
    m.begin(100, 100, 6000, pressureOf('touch', 1));
    m.extend(110, 100, 6010, pressureOf('mouse', 0.5));
    m.end();
    expect(m.strokes).toEqual([
      [pt(10, 20.1, 0, 0.8), pt(30.2, 40.4, 16, 0.9), pt(50, 60, 33, 0.7)],
      [pt(100, 100, 1000, 0.5), pt(110, 100, 1010, 0.5)],
    ]);
    expect(m.drawing).toBe(false);
  });

  it('clamps to the pad, skips points less than 1 px apart and never goes back in time', () => {
    const m = new SignatureModel();
    m.setSize(300, 100);
    m.begin(-5, 50, 0);
    expect(m.extend(-4.6, 50.2, 1)).toBe(false);
    expect(m.extend(400, 150, 2)).toBe(true);
    expect(m.extend(100, 50, 1)).toBe(true);
    expect(m.strokes[0]).toEqual([pt(0, 50, 0), pt(300, 100, 2), pt(100, 50, 2)]);
    // Not drawing: moves are ignored.
    m.end();
    expect(m.extend(10, 10, 3)).toBe(false);
    expect(m.strokes).toHaveLength(1);
  });

  it('undoes the last stroke, clears, and starts the clock again once empty', () => {
    const m = new SignatureModel();
    m.begin(1, 1, 100);
    m.end(20, 1, 110);
    m.begin(1, 10, 200);
    m.end(20, 10, 210);
    expect(m.undo()).toBe(true);
    expect(m.strokes).toEqual([[pt(1, 1, 0), pt(20, 1, 10)]]);
    expect(m.undo()).toBe(true);
    expect(m.empty).toBe(true);
    expect(m.undo()).toBe(false);
    m.begin(5, 5, 900);
    expect(m.strokes[0][0].t).toBe(0);
    m.clear();
    expect(m.strokes).toEqual([]);
    m.begin(5, 5, 2000);
    expect(m.strokes[0][0].t).toBe(0);
  });

  it('drops the stroke being drawn when it was a resting hand', () => {
    const m = new SignatureModel();
    m.begin(1, 1, 0);
    m.end(9, 1, 5);
    m.begin(50, 50, 10);
    m.abort();
    expect(m.strokes).toHaveLength(1);
    expect(m.drawing).toBe(false);
  });

  it('scales the points with the pad when it is resized', () => {
    const m = new SignatureModel();
    m.setSize(600, 200);
    m.begin(300, 100, 0);
    m.end(450.5, 150, 10);
    m.setSize(300, 100);
    expect(m.strokes[0]).toEqual([pt(150, 50, 0), pt(225.3, 75, 10)]);
    m.setSize(300, 100);
    expect(m.strokes[0][1].x).toBe(225.3);
  });

  it('gives pens a width with their pressure, within legible bounds', () => {
    expect(pressureOf('mouse', 0.5)).toBe(0.5);
    expect(pressureOf('touch', 0.02)).toBe(0.5);
    expect(pressureOf('pen', 0)).toBe(0.5);
    expect(pressureOf('pen', 1.7)).toBe(1);
    expect(pressureOf('pen', 0.1234)).toBe(0.123);
    expect(lineWidth(0.5)).toBeCloseTo(BASE_WIDTH);
    expect(lineWidth(0)).toBeGreaterThanOrEqual(1.4);
    expect(lineWidth(1)).toBeLessThanOrEqual(4);
    expect(lineWidth(0.9)).toBeGreaterThan(lineWidth(0.3));
  });
});

describe('the strokes as JSON', () => {
  it('is the list of strokes of points, and reads back', () => {
    const strokes: Stroke[] = [[pt(1.5, 2, 0, 0.5), pt(3, 4.1, 12, 0.75)], [pt(9, 9, 400, 0.5)]];
    const json = strokesJson(strokes);
    expect(json).toBe('[[{"x":1.5,"y":2,"t":0,"p":0.5},{"x":3,"y":4.1,"t":12,"p":0.75}],[{"x":9,"y":9,"t":400,"p":0.5}]]');
    expect(parseStrokes(json)).toEqual(strokes);
    expect(new SignatureModel(strokes).toJSON()).toBe(json);
  });

  it('refuses what is not strokes', () => {
    expect(() => parseStrokes('{}')).toThrow();
    expect(() => parseStrokes('[[]]')).toThrow();
    expect(() => parseStrokes('[[{"x":1,"y":2,"t":0}]]')).toThrow();
    expect(() => parseStrokes('[[{"x":"1","y":2,"t":0,"p":0.5}]]')).toThrow();
    expect(parseStrokes('[]')).toEqual([]);
  });
});

describe('the smoothed path', () => {
  it('is a dot for a tap and a line for two points', () => {
    expect(strokeSegments([pt(5, 6)])).toEqual([{ x0: 5, y0: 6, cx: 5, cy: 6, x1: 5, y1: 6, w0: BASE_WIDTH, w1: BASE_WIDTH }]);
    const [line] = strokeSegments([pt(0, 0), pt(10, 20)]);
    expect(line).toMatchObject({ x0: 0, y0: 0, cx: 5, cy: 10, x1: 10, y1: 20 });
  });

  it('curves through each point from midpoint to midpoint, unbroken, with the pressure', () => {
    const stroke = [pt(0, 0, 0, 0.2), pt(10, 0, 1, 0.4), pt(20, 10, 2, 0.6), pt(30, 10, 3, 0.8)];
    const segments = strokeSegments(stroke);
    expect(segments).toHaveLength(4);
    expect(segments[0]).toMatchObject({ x0: 0, y0: 0, x1: 5, y1: 0 });
    expect(segments[1]).toMatchObject({ x0: 5, y0: 0, cx: 10, cy: 0, x1: 15, y1: 5 });
    expect(segments[2]).toMatchObject({ x0: 15, y0: 5, cx: 20, cy: 10, x1: 25, y1: 10 });
    expect(segments[3]).toMatchObject({ x0: 25, y0: 10, x1: 30, y1: 10 });
    for (let i = 1; i < segments.length; i++) {
      expect([segments[i].x0, segments[i].y0, segments[i].w0]).toEqual([segments[i - 1].x1, segments[i - 1].y1, segments[i - 1].w1]);
    }
    expect(segments[3].w1).toBeGreaterThan(segments[0].w0);
  });

  it('is drawn on a canvas in round-capped ink', () => {
    const { ctx, calls } = recorder();
    drawStrokes(ctx as unknown as InkContext, [[pt(1, 1)], [pt(0, 0), pt(10, 0), pt(20, 10)]]);
    expect(calls.filter((c) => c === 'arc')).toHaveLength(1);
    expect(calls.filter((c) => c === 'quadraticCurveTo')).toHaveLength(3);
    expect(ctx.strokeStyle).toBe('#111');
    expect(ctx.lineCap).toBe('round');
  });
});

describe('the PNG', () => {
  const stroke: Stroke = [pt(100, 50), pt(150, 80), pt(200, 50), pt(250, 80)];

  it('is trimmed to the drawn area plus the margin, at twice the CSS size', () => {
    const half = BASE_WIDTH / 2;
    const bounds = inkBounds([stroke])!;
    expect(bounds.x).toBeCloseTo(100 - half - MARGIN);
    expect(bounds.y).toBeCloseTo(50 - half - MARGIN);
    expect(bounds.width).toBeCloseTo(150 + 2 * half + 2 * MARGIN);
    expect(bounds.height).toBeCloseTo(30 + 2 * half + 2 * MARGIN);
    expect(inkBounds([])).toBeNull();
    const made = signaturePng([stroke])!;
    expect(made.width).toBe(Math.ceil((150 + BASE_WIDTH + 2 * MARGIN) * EXPORT_SCALE));
    expect(made.height).toBe(Math.ceil((30 + BASE_WIDTH + 2 * MARGIN) * EXPORT_SCALE));
    expect(signaturePng([])).toBeNull();
  });

  it('is a valid grey PNG of dark ink on white, the same bytes every time', () => {
    const made = signaturePng([stroke])!;
    const png = made.png;
    expect(Array.from(png.subarray(0, 8))).toEqual(Array.from(PNG_SIGNATURE));
    const list = chunks(png);
    expect(list.map((c) => c.type)).toEqual(['IHDR', 'IDAT', 'IEND']);
    expect(list.every((c) => c.crcOk)).toBe(true);
    expect(Array.from(list[0].data.subarray(8))).toEqual([8, 0, 0, 0, 0]);

    const image = decodePng(png);
    expect([image.width, image.height]).toEqual([made.width, made.height]);
    expect(image.pixels).toEqual(rasterize([stroke])!.pixels);
    // White in the margin, ink on the points (first and last are exact on the path).
    const at = (x: number, y: number) => image.pixels[Math.floor((y - inkBounds([stroke])!.y) * 2) * image.width + Math.floor((x - inkBounds([stroke])!.x) * 2)];
    expect(image.pixels[0]).toBe(255);
    expect(image.pixels[image.pixels.length - 1]).toBe(255);
    expect(at(100, 50)).toBeLessThan(40);
    expect(at(250, 80)).toBeLessThan(40);
    expect(Math.min(...image.pixels)).toBe(0x11);
    // Mostly white, which compresses well.
    expect(png.length).toBeLessThan(image.width * image.height / 4);

    expect(signaturePng([stroke])!.png).toEqual(png);
  });

  it('is at most 1200 px wide', () => {
    const wide = signaturePng([[pt(0, 0), pt(900, 20)]])!;
    expect(wide.width).toBeLessThanOrEqual(MAX_PNG_WIDTH);
    expect(wide.width).toBeGreaterThan(1190);
    expect(decodePng(wide.png).width).toBe(wide.width);
  });

  it('compresses any bytes so that zlib reads them back', () => {
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const parts: number[] = [];
    for (let i = 0; i < 3000; i++) {
      const v = Math.floor(random() * 256);
      const run = random() < 0.3 ? Math.floor(random() * 700) : 1;
      for (let k = 0; k < run; k++) parts.push(v);
    }
    // Repeats at every distance deflate allows, up to 32768 back.
    const block = Uint8Array.from({ length: 32768 }, () => Math.floor(random() * 256));
    const repeated = new Uint8Array(3 * 32768);
    repeated.set(block);
    repeated.set(block, 32768);
    for (let i = 65536; i < repeated.length; i++) repeated[i] = repeated[i - 1 - (i % 5000)];
    const periodic = Uint8Array.from({ length: 5000 }, (_, i) => (i % 7) * 30 + (i % 3));
    for (const data of [new Uint8Array(0), Uint8Array.of(9), Uint8Array.of(1, 1, 1, 1), new Uint8Array(100000), Uint8Array.from(parts), repeated, periodic]) {
      expect(Buffer.from(inflateSync(zlibDeflate(data))).equals(data)).toBe(true);
    }
    // The copies cost little next to the random block itself.
    expect(zlibDeflate(repeated).length).toBeLessThan(block.length * 1.2);
    expect(zlibDeflate(new Uint8Array(100000)).length).toBeLessThan(1000);
  });

  it('encodes a given image exactly', () => {
    const pixels = Uint8Array.from({ length: 7 * 5 }, (_, i) => (i * 37) % 256);
    expect(decodePng(encodePng({ width: 7, height: 5, pixels })).pixels).toEqual(pixels);
  });

  it('comes with the strokes JSON in what is emitted', () => {
    const payload = signedPayload([stroke])!;
    expect(payload.strokes).toBe(strokesJson([stroke]));
    expect(payload.png).toEqual(signaturePng([stroke])!.png);
    expect(signedPayload([])).toBeNull();
  });
});

// ---- the pad

class FakePointerEvent extends MouseEvent {
  pointerId: number;
  pointerType: string;
  pressure: number;
  constructor(type: string, init: PointerEventInit = {}) {
    super(type, { bubbles: true, cancelable: true, ...init });
    this.pointerId = init.pointerId ?? 1;
    this.pointerType = init.pointerType ?? 'mouse';
    this.pressure = init.pressure ?? 0;
  }
}

const RECT = { left: 10, top: 20, right: 610, bottom: 220, x: 10, y: 20, width: 600, height: 200, toJSON: () => ({}) } as DOMRect;

describe('the signature pad', () => {
  let calls: string[];
  let captured: number[];
  let wrapper: VueWrapper | null = null;

  beforeEach(() => {
    const r = recorder();
    calls = r.calls;
    captured = [];
    vi.spyOn(HTMLCanvasElement.prototype, 'getContext').mockReturnValue(r.ctx as unknown as CanvasRenderingContext2D);
    vi.spyOn(HTMLCanvasElement.prototype, 'getBoundingClientRect').mockReturnValue(RECT);
    Object.defineProperty(HTMLCanvasElement.prototype, 'setPointerCapture', {
      configurable: true,
      value: (id: number) => captured.push(id),
    });
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(1_000_000);
  });
  afterEach(() => {
    wrapper?.unmount();
    wrapper = null;
    vi.useRealTimers();
    vi.restoreAllMocks();
    vi.unstubAllGlobals();
    delete (HTMLCanvasElement.prototype as Partial<HTMLCanvasElement>).setPointerCapture;
  });

  function pad(props: Record<string, unknown> = {}) {
    wrapper = mount(SignaturePad, { props: { signer: '张三', role: '被谈话人', ...props } });
    return wrapper;
  }
  const canvas = (w: VueWrapper) => w.get('[data-testid="signature-pad"]').element as HTMLCanvasElement;
  const button = (w: VueWrapper, name: string) => w.get(`[data-testid="signature-${name}"]`);
  const disabled = (w: VueWrapper, name: string) => (button(w, name).element as HTMLButtonElement).disabled;
  const strokesOf = (w: VueWrapper) => (w.vm as unknown as { strokes: Stroke[] }).strokes;

  /** A stroke through client points [x, y, ms after the previous one]. */
  function draw(w: VueWrapper, points: [number, number, number?][], init: PointerEventInit = {}) {
    const el = canvas(w);
    points.forEach(([clientX, clientY, dt], i) => {
      vi.setSystemTime(Date.now() + (dt ?? 10));
      const type = i === 0 ? 'pointerdown' : i === points.length - 1 ? 'pointerup' : 'pointermove';
      el.dispatchEvent(new FakePointerEvent(type, { pointerId: 1, button: type === 'pointermove' ? -1 : 0, clientX, clientY, ...init }));
    });
  }

  it('shows who signs and as what, a hint, and nothing to confirm yet', () => {
    const w = pad();
    expect(w.get('[data-testid="signature-signer"]').text()).toBe('签字人：张三');
    expect(w.get('[data-testid="signature-role"]').text()).toBe('被谈话人');
    expect(w.get('[data-testid="signature-hint"]').text()).toBe('请在此处签名');
    expect(button(w, 'confirm').text()).toBe('确认签名');
    expect(button(w, 'clear').text()).toBe('清除');
    expect(button(w, 'undo').text()).toBe('撤销');
    expect(button(w, 'cancel').text()).toBe('取消');
    expect(disabled(w, 'confirm')).toBe(true);
    expect(disabled(w, 'clear')).toBe(true);
    expect(disabled(w, 'undo')).toBe(true);
    expect(disabled(w, 'cancel')).toBe(false);
    expect(strokesOf(w)).toEqual([]);
  });

  it('sizes the canvas at 3:1 in device pixels', () => {
    vi.stubGlobal('devicePixelRatio', 2);
    const w = pad();
    const el = canvas(w);
    expect([el.width, el.height]).toEqual([1200, 400]);
    expect([el.style.width, el.style.height]).toEqual(['600px', '200px']);
  });

  it('turns pointer events into strokes relative to the canvas, and draws them', async () => {
    const w = pad();
    draw(w, [[110, 70], [130.04, 80.06, 16], [150, 90, 17]], { pointerType: 'pen', pressure: 0.8 });
    draw(w, [[300, 100, 500], [320, 100], [340, 110]], { pointerType: 'touch', pressure: 1 });
    await w.vm.$nextTick();
    expect(captured).toEqual([1]);
    expect(strokesOf(w)).toEqual([
      [pt(100, 50, 0, 0.8), pt(120, 60.1, 16, 0.8), pt(140, 70, 33, 0.8)],
    ]);
    // The touch came after a pen had drawn: taken for the writing hand, it draws nothing.
    draw(w, [[300, 100, 500], [320, 100], [340, 110]], { pointerType: 'mouse', pressure: 0.5 });
    await w.vm.$nextTick();
    expect(strokesOf(w)).toEqual([
      [pt(100, 50, 0, 0.8), pt(120, 60.1, 16, 0.8), pt(140, 70, 33, 0.8)],
      [pt(290, 80, 1053, 0.5), pt(310, 80, 1063, 0.5), pt(330, 90, 1073, 0.5)],
    ]);
    expect(captured).toEqual([1, 1]);
    expect(w.find('[data-testid="signature-hint"]').exists()).toBe(false);
    expect(disabled(w, 'confirm')).toBe(false);
    await new Promise((resolve) => requestAnimationFrame(resolve));
    expect(calls).toContain('quadraticCurveTo');
  });

  it('draws with a finger and with a mouse, one pointer at a time', async () => {
    const w = pad();
    const el = canvas(w);
    el.dispatchEvent(new FakePointerEvent('pointerdown', { pointerId: 7, pointerType: 'touch', button: 0, clientX: 20, clientY: 30 }));
    // A second finger does not draw.
    el.dispatchEvent(new FakePointerEvent('pointerdown', { pointerId: 8, pointerType: 'touch', button: 0, clientX: 400, clientY: 30 }));
    el.dispatchEvent(new FakePointerEvent('pointermove', { pointerId: 8, pointerType: 'touch', clientX: 420, clientY: 60 }));
    el.dispatchEvent(new FakePointerEvent('pointermove', { pointerId: 7, pointerType: 'touch', clientX: 40, clientY: 30 }));
    el.dispatchEvent(new FakePointerEvent('pointercancel', { pointerId: 7, pointerType: 'touch' }));
    // A right click does not draw; a mouse does.
    el.dispatchEvent(new FakePointerEvent('pointerdown', { pointerId: 1, button: 2, clientX: 100, clientY: 100 }));
    draw(w, [[100, 100], [200, 120]]);
    await w.vm.$nextTick();
    expect(strokesOf(w).map((s) => s.map(({ x, y }) => [x, y]))).toEqual([
      [[10, 10], [30, 10]],
      [[90, 80], [190, 100]],
    ]);
  });

  it('lets a pen take over from the hand resting on the screen', async () => {
    const w = pad();
    const el = canvas(w);
    el.dispatchEvent(new FakePointerEvent('pointerdown', { pointerId: 3, pointerType: 'touch', button: 0, clientX: 500, clientY: 200 }));
    el.dispatchEvent(new FakePointerEvent('pointermove', { pointerId: 3, pointerType: 'touch', clientX: 520, clientY: 210 }));
    draw(w, [[50, 50], [80, 60]], { pointerId: 4, pointerType: 'pen', pressure: 0.6 });
    el.dispatchEvent(new FakePointerEvent('pointerup', { pointerId: 3, pointerType: 'touch', button: 0, clientX: 530, clientY: 210 }));
    await w.vm.$nextTick();
    expect(strokesOf(w)).toHaveLength(1);
    expect(strokesOf(w)[0].map(({ x, y, p }) => [x, y, p])).toEqual([[40, 30, 0.6], [70, 40, 0.6]]);
    expect(strokesOf(w)[0][0].t).toBe(0);
  });

  it('undoes the last stroke and clears', async () => {
    const w = pad();
    draw(w, [[20, 30], [60, 30]]);
    draw(w, [[20, 60], [60, 60]]);
    draw(w, [[20, 90], [60, 90]]);
    await w.vm.$nextTick();
    expect(strokesOf(w)).toHaveLength(3);
    await button(w, 'undo').trigger('click');
    expect(strokesOf(w).map((s) => s[0].y)).toEqual([10, 40]);
    await button(w, 'clear').trigger('click');
    expect(strokesOf(w)).toEqual([]);
    expect(disabled(w, 'confirm')).toBe(true);
    expect(w.find('[data-testid="signature-hint"]').exists()).toBe(true);
    await button(w, 'confirm').trigger('click');
    expect(w.emitted('signed')).toBeUndefined();
  });

  it('emits the PNG, the strokes and the size on confirm, and cancel on cancel', async () => {
    const w = pad();
    draw(w, [[110, 70], [160, 110], [210, 70], [260, 110]]);
    draw(w, [[300, 120], [400, 120]]);
    await w.vm.$nextTick();
    await button(w, 'confirm').trigger('click');
    const [[payload]] = w.emitted('signed') as [[SignedPayload]];
    expect(payload.png).toBeInstanceOf(Uint8Array);
    expect(Array.from(payload.png.subarray(0, 8))).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const strokes = parseStrokes(payload.strokes);
    expect(strokes).toEqual(strokesOf(w));
    expect(strokes.map((s) => s.length)).toEqual([4, 2]);
    const image = decodePng(payload.png);
    expect([payload.width, payload.height]).toEqual([image.width, image.height]);
    // The drawn area: x 100..390, y 50..100 CSS px, plus the line and the margin, twice over.
    expect(payload.width).toBe(Math.ceil((290 + BASE_WIDTH + 2 * MARGIN) * 2));
    expect(payload.height).toBe(Math.ceil((50 + BASE_WIDTH + 2 * MARGIN) * 2));

    await button(w, 'cancel').trigger('click');
    expect(w.emitted('cancel')).toHaveLength(1);
  });

  it('takes no ink and no confirmation when disabled', async () => {
    const w = pad({ disabled: true });
    draw(w, [[110, 70], [160, 110]]);
    await w.vm.$nextTick();
    expect(strokesOf(w)).toEqual([]);
    expect(disabled(w, 'confirm')).toBe(true);
    await w.setProps({ disabled: false });
    draw(w, [[110, 70], [160, 110]]);
    await w.setProps({ disabled: true });
    expect(strokesOf(w)).toHaveLength(1);
    expect(disabled(w, 'confirm')).toBe(true);
    expect(disabled(w, 'undo')).toBe(true);
  });

  it('keeps the strokes, scaled, when the pad is resized', async () => {
    let width = 600;
    const clientWidth = vi.spyOn(Element.prototype, 'clientWidth', 'get').mockImplementation(() => width);
    const w = pad();
    draw(w, [[110, 70], [310, 170]]);
    await w.vm.$nextTick();
    width = 300;
    window.dispatchEvent(new Event('resize'));
    await w.vm.$nextTick();
    expect(canvas(w).style.width).toBe('300px');
    expect(canvas(w).style.height).toBe('100px');
    expect(strokesOf(w).map((s) => s.map(({ x, y }) => [x, y]))).toEqual([[[50, 25], [150, 75]]]);
    expect(calls.filter((c) => c === 'clearRect').length).toBeGreaterThan(1);
    clientWidth.mockRestore();
  });
});
