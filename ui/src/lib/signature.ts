// 签字: the model behind the signature pad, kept free of the DOM so it can be tested.
// A signature is a list of strokes, each a list of points in CSS pixels of the pad (x and y
// to 0.1 px, t in ms since the signature's first point, p the pressure 0..1). From the
// strokes come the smoothed path (quadratic curves through the midpoints, drawn by the
// pad's canvas), the drawn area, the JSON kept with the record, and the PNG: rasterised
// and encoded here rather than by a canvas, so the same strokes give the same PNG bytes on
// every device (and the PNG can be made again from the JSON to check it).

export interface SignaturePoint {
  /** CSS px from the pad's left edge, to 0.1. */
  x: number;
  /** CSS px from the pad's top edge, to 0.1. */
  y: number;
  /** ms since the first point of the signature. */
  t: number;
  /** Pressure 0..1; 0.5 when the device does not measure it (mouse, finger). */
  p: number;
}
export type Stroke = SignaturePoint[];

/** What the pad emits as `signed`: the PNG's bytes and size in pixels, and the strokes' JSON. */
export interface SignedPayload {
  png: Uint8Array;
  strokes: string;
  width: number;
  height: number;
}

/** The ink: near black on white. */
export const INK = '#111';
const INK_LEVEL = 0x11;
/** Line width in CSS px at the default pressure (0.5). */
export const BASE_WIDTH = 2.6;
/** Points closer than this (CSS px) to the last one are not kept. */
export const MIN_DISTANCE = 1;
/** White space (CSS px) around the drawn area in the PNG. */
export const MARGIN = 12;
/** PNG pixels per CSS px (as on a high-density screen), unless the width would exceed the maximum. */
export const EXPORT_SCALE = 2;
export const MAX_PNG_WIDTH = 1200;
/** The pressure recorded for a pointer that does not measure it. */
export const DEFAULT_PRESSURE = 0.5;

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
/** To 0.1, without a negative zero. */
export const round1 = (v: number): number => Math.round(v * 10) / 10 + 0;

/**
 * The pressure kept for an event: a pen's own (0..1); a mouse's or a finger's is not a
 * measure of force (0.5 or 1 when pressed, a contact area on some phones), so they get the
 * default and draw at the base width. A pen reporting 0 while touching also gets the default.
 */
export function pressureOf(pointerType: string, pressure: number | undefined): number {
  if (pointerType !== 'pen' || pressure == null || !Number.isFinite(pressure) || pressure <= 0) return DEFAULT_PRESSURE;
  return Math.round(clamp(pressure, 0, 1) * 1000) / 1000;
}

/** Line width (CSS px) for a pressure: 0.55× to 1.45× the base width, always legible. */
export function lineWidth(p: number): number {
  return BASE_WIDTH * (0.55 + 0.9 * clamp(p, 0, 1));
}

/**
 * The strokes of a signature as they are drawn. `strokes` includes the stroke being drawn.
 * Points are clamped to the pad, which has a size (CSS px); when the pad is resized the
 * points are scaled with it, so the signature keeps its place on the pad.
 */
export class SignatureModel {
  strokes: Stroke[] = [];
  width = 0;
  height = 0;
  /** Time (any clock, ms) of the signature's first point; null while empty. */
  private origin: number | null = null;
  private current: Stroke | null = null;

  constructor(strokes: Stroke[] = []) {
    this.strokes = strokes.map((s) => s.map((pt) => ({ ...pt })));
  }

  get empty(): boolean {
    return this.strokes.length === 0;
  }
  get drawing(): boolean {
    return this.current !== null;
  }

  /** Sets the pad's size; points already drawn are scaled to the new width. */
  setSize(width: number, height: number): void {
    if (this.width > 0 && width > 0 && width !== this.width) {
      const k = width / this.width;
      for (const stroke of this.strokes) {
        for (const pt of stroke) {
          pt.x = round1(clamp(pt.x * k, 0, width));
          pt.y = round1(clamp(pt.y * k, 0, height));
        }
      }
    }
    this.width = width;
    this.height = height;
  }

  private point(x: number, y: number, time: number, p: number): SignaturePoint {
    if (this.origin === null) this.origin = time;
    const cx = this.width > 0 ? clamp(x, 0, this.width) : x;
    const cy = this.height > 0 ? clamp(y, 0, this.height) : y;
    return { x: round1(cx), y: round1(cy), t: Math.max(0, Math.round(time - this.origin)), p: clamp(p, 0, 1) };
  }

  /** Pen down: a new stroke with its first point. */
  begin(x: number, y: number, time: number, p = DEFAULT_PRESSURE): void {
    this.end();
    this.current = [this.point(x, y, time, p)];
    this.strokes.push(this.current);
  }

  /** Pen moved: adds the point unless it is too close to the last one. Whether it was added. */
  extend(x: number, y: number, time: number, p = DEFAULT_PRESSURE): boolean {
    const stroke = this.current;
    if (!stroke) return false;
    const pt = this.point(x, y, time, p);
    const last = stroke[stroke.length - 1];
    if (Math.hypot(pt.x - last.x, pt.y - last.y) < MIN_DISTANCE) return false;
    if (pt.t < last.t) pt.t = last.t;
    stroke.push(pt);
    return true;
  }

  /** Pen up: the stroke is finished (the last point is kept if it moved). */
  end(x?: number, y?: number, time?: number, p?: number): void {
    if (this.current && x != null && y != null && time != null) this.extend(x, y, time, p);
    this.current = null;
  }

  /** Drops the stroke being drawn (a palm that touched before the pen). */
  abort(): void {
    if (!this.current) return;
    const i = this.strokes.indexOf(this.current);
    if (i >= 0) this.strokes.splice(i, 1);
    this.current = null;
    if (this.empty) this.origin = null;
  }

  /** Removes the last stroke; whether there was one. */
  undo(): boolean {
    this.current = null;
    const removed = this.strokes.pop() !== undefined;
    if (this.empty) this.origin = null;
    return removed;
  }

  clear(): void {
    this.strokes = [];
    this.current = null;
    this.origin = null;
  }

  toJSON(): string {
    return strokesJson(this.strokes);
  }
}

/** The strokes as JSON: `[[{"x":…,"y":…,"t":…,"p":…},…],…]`. */
export function strokesJson(strokes: readonly Stroke[]): string {
  return JSON.stringify(strokes.map((s) => s.map(({ x, y, t, p }) => ({ x, y, t, p }))));
}

/** Strokes read back from their JSON; throws on anything else. */
export function parseStrokes(json: string): Stroke[] {
  const data: unknown = JSON.parse(json);
  const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
  if (!Array.isArray(data)) throw new Error('signature strokes: not a list');
  return data.map((stroke: unknown) => {
    if (!Array.isArray(stroke) || stroke.length === 0) throw new Error('signature strokes: a stroke is not a list of points');
    return stroke.map((pt: unknown) => {
      const o = pt as Record<string, unknown> | null;
      if (!o || typeof o !== 'object' || !num(o.x) || !num(o.y) || !num(o.t) || !num(o.p)) {
        throw new Error('signature strokes: a point needs numbers x, y, t and p');
      }
      return { x: o.x, y: o.y, t: o.t, p: o.p };
    });
  });
}

/**
 * One piece of a smoothed stroke: a quadratic curve from (x0, y0) to (x1, y1) with control
 * point (cx, cy), its width going from w0 to w1 (a straight line has its control point on
 * it). A single point is a dot: both ends and the control point at the point.
 */
export interface Segment {
  x0: number; y0: number;
  cx: number; cy: number;
  x1: number; y1: number;
  w0: number; w1: number;
}

/**
 * The smoothed path of a stroke: a line from the first point to the midpoint of the first
 * two, curves through each point from midpoint to midpoint, and a line to the last point.
 */
export function strokeSegments(stroke: readonly SignaturePoint[]): Segment[] {
  const n = stroke.length;
  if (n === 0) return [];
  if (n === 1) {
    const { x, y, p } = stroke[0];
    const w = lineWidth(p);
    return [{ x0: x, y0: y, cx: x, cy: y, x1: x, y1: y, w0: w, w1: w }];
  }
  const mid = (a: SignaturePoint, b: SignaturePoint) => ({ x: (a.x + b.x) / 2, y: (a.y + b.y) / 2, w: lineWidth((a.p + b.p) / 2) });
  const line = (x0: number, y0: number, w0: number, x1: number, y1: number, w1: number): Segment =>
    ({ x0, y0, cx: (x0 + x1) / 2, cy: (y0 + y1) / 2, x1, y1, w0, w1 });
  const first = stroke[0];
  const last = stroke[n - 1];
  if (n === 2) return [line(first.x, first.y, lineWidth(first.p), last.x, last.y, lineWidth(last.p))];
  const segments: Segment[] = [];
  let m = mid(stroke[0], stroke[1]);
  segments.push(line(first.x, first.y, lineWidth(first.p), m.x, m.y, m.w));
  for (let i = 1; i < n - 1; i++) {
    const next = mid(stroke[i], stroke[i + 1]);
    segments.push({ x0: m.x, y0: m.y, cx: stroke[i].x, cy: stroke[i].y, x1: next.x, y1: next.y, w0: m.w, w1: next.w });
    m = next;
  }
  segments.push(line(m.x, m.y, m.w, last.x, last.y, lineWidth(last.p)));
  return segments;
}

/** The part of a 2D canvas context the pad draws with. */
export type InkContext = Pick<
  CanvasRenderingContext2D,
  'beginPath' | 'moveTo' | 'quadraticCurveTo' | 'stroke' | 'arc' | 'fill' | 'lineWidth' | 'lineCap' | 'lineJoin' | 'strokeStyle' | 'fillStyle'
>;

/** Draws strokes (CSS px) on a canvas context whose transform maps CSS px to its pixels. */
export function drawStrokes(ctx: InkContext, strokes: readonly Stroke[]): void {
  ctx.strokeStyle = INK;
  ctx.fillStyle = INK;
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  for (const stroke of strokes) {
    for (const s of strokeSegments(stroke)) {
      if (stroke.length === 1) {
        ctx.beginPath();
        ctx.arc(s.x0, s.y0, s.w0 / 2, 0, 2 * Math.PI);
        ctx.fill();
        continue;
      }
      ctx.lineWidth = (s.w0 + s.w1) / 2;
      ctx.beginPath();
      ctx.moveTo(s.x0, s.y0);
      ctx.quadraticCurveTo(s.cx, s.cy, s.x1, s.y1);
      ctx.stroke();
    }
  }
}

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** The drawn area (CSS px, ink width included) with a margin around it; null when nothing is drawn. */
export function inkBounds(strokes: readonly Stroke[], margin = MARGIN): Rect | null {
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (const stroke of strokes) {
    for (const { x, y, p } of stroke) {
      // The curves stay within their points' hull; the ink reaches half a line width further.
      const r = lineWidth(p) / 2;
      x0 = Math.min(x0, x - r);
      y0 = Math.min(y0, y - r);
      x1 = Math.max(x1, x + r);
      y1 = Math.max(y1, y + r);
    }
  }
  if (x0 === Infinity) return null;
  return { x: x0 - margin, y: y0 - margin, width: x1 - x0 + 2 * margin, height: y1 - y0 + 2 * margin };
}

/** A grey image: one byte a pixel, 255 white, row after row. */
export interface GreyImage {
  width: number;
  height: number;
  pixels: Uint8Array;
}

/**
 * The strokes drawn as a grey image of the drawn area plus the margin, on white, at
 * EXPORT_SCALE pixels per CSS px but at most MAX_PNG_WIDTH pixels wide; null when empty.
 * Anti-aliased: a pixel's ink is how far inside the stroke its centre lies, within one pixel.
 */
export function rasterize(strokes: readonly Stroke[], margin = MARGIN): GreyImage | null {
  const bounds = inkBounds(strokes, margin);
  if (!bounds) return null;
  const scale = Math.min(EXPORT_SCALE, MAX_PNG_WIDTH / bounds.width);
  const width = clamp(Math.ceil(bounds.width * scale), 1, MAX_PNG_WIDTH);
  const height = Math.max(1, Math.ceil(bounds.height * scale));
  const pixels = new Uint8Array(width * height).fill(255);
  const X = (x: number) => (x - bounds.x) * scale;
  const Y = (y: number) => (y - bounds.y) * scale;

  // A piece of line from (ax, ay) radius ra to (bx, by) radius rb, in image pixels, round ends.
  const capsule = (ax: number, ay: number, ra: number, bx: number, by: number, rb: number) => {
    const r = Math.max(ra, rb);
    const left = Math.max(0, Math.floor(Math.min(ax, bx) - r - 1));
    const right = Math.min(width - 1, Math.ceil(Math.max(ax, bx) + r + 1));
    const top = Math.max(0, Math.floor(Math.min(ay, by) - r - 1));
    const bottom = Math.min(height - 1, Math.ceil(Math.max(ay, by) + r + 1));
    const dx = bx - ax;
    const dy = by - ay;
    const len2 = dx * dx + dy * dy;
    for (let py = top; py <= bottom; py++) {
      const yc = py + 0.5;
      for (let px = left; px <= right; px++) {
        const xc = px + 0.5;
        const u = len2 > 0 ? clamp(((xc - ax) * dx + (yc - ay) * dy) / len2, 0, 1) : 0;
        const ex = xc - (ax + u * dx);
        const ey = yc - (ay + u * dy);
        const reach = ra + u * (rb - ra) + 0.5;
        const d2 = ex * ex + ey * ey;
        if (d2 >= reach * reach) continue;
        const cover = Math.min(1, reach - Math.sqrt(d2));
        const level = Math.round(255 - cover * (255 - INK_LEVEL));
        const i = py * width + px;
        if (level < pixels[i]) pixels[i] = level;
      }
    }
  };

  for (const stroke of strokes) {
    for (const s of strokeSegments(stroke)) {
      const x0 = X(s.x0), y0 = Y(s.y0), cx = X(s.cx), cy = Y(s.cy), x1 = X(s.x1), y1 = Y(s.y1);
      const r0 = (s.w0 * scale) / 2;
      const r1 = (s.w1 * scale) / 2;
      // The curve as straight pieces about 2 px long.
      const length = Math.hypot(cx - x0, cy - y0) + Math.hypot(x1 - cx, y1 - cy);
      const pieces = clamp(Math.ceil(length / 2), 1, 64);
      let px = x0;
      let py = y0;
      let pr = r0;
      for (let k = 1; k <= pieces; k++) {
        const u = k / pieces;
        const a = (1 - u) * (1 - u);
        const b = 2 * (1 - u) * u;
        const c = u * u;
        const nx = a * x0 + b * cx + c * x1;
        const ny = a * y0 + b * cy + c * y1;
        const nr = r0 + u * (r1 - r0);
        capsule(px, py, pr, nx, ny, nr);
        px = nx;
        py = ny;
        pr = nr;
      }
    }
  }
  return { width, height, pixels };
}

/** The signature as PNG bytes with the image's size; null when nothing is drawn. */
export function signaturePng(strokes: readonly Stroke[], margin = MARGIN): { png: Uint8Array; width: number; height: number } | null {
  const image = rasterize(strokes, margin);
  if (!image) return null;
  return { png: encodePng(image), width: image.width, height: image.height };
}

/** What `signed` carries for these strokes; null when nothing is drawn. */
export function signedPayload(strokes: readonly Stroke[]): SignedPayload | null {
  const made = signaturePng(strokes);
  return made && { ...made, strokes: strokesJson(strokes) };
}

// ---- PNG: 8-bit grey, each row filtered (None, Sub or Up, whichever is smallest), zlib
// with one fixed-Huffman deflate block (the filtered white is runs of zeros).

export const PNG_SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(bytes: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

function adler32(bytes: Uint8Array): number {
  let a = 1;
  let b = 0;
  for (let i = 0; i < bytes.length; ) {
    const end = Math.min(bytes.length, i + 5552);
    for (; i < end; i++) {
      a += bytes[i];
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

class BitWriter {
  private out: Uint8Array = new Uint8Array(1 << 16);
  private length = 0;
  private bits = 0;
  private count = 0;

  private byte(v: number) {
    if (this.length === this.out.length) {
      const bigger = new Uint8Array(this.out.length * 2);
      bigger.set(this.out);
      this.out = bigger;
    }
    this.out[this.length++] = v;
  }
  /** `n` bits of `value`, least significant first (header fields, extra bits). */
  write(value: number, n: number) {
    this.bits |= value << this.count;
    this.count += n;
    while (this.count >= 8) {
      this.byte(this.bits & 0xff);
      this.bits >>>= 8;
      this.count -= 8;
    }
  }
  /** A Huffman code of `n` bits, most significant first. */
  code(code: number, n: number) {
    let reversed = 0;
    for (let i = 0; i < n; i++) reversed |= ((code >>> i) & 1) << (n - 1 - i);
    this.write(reversed, n);
  }
  bytes(): Uint8Array {
    if (this.count > 0) this.write(0, 8 - this.count);
    return this.out.slice(0, this.length);
  }
}

const LENGTH_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LENGTH_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];

/** A literal/length symbol in the fixed Huffman code. */
function fixedSymbol(w: BitWriter, symbol: number) {
  if (symbol < 144) w.code(0x30 + symbol, 8);
  else if (symbol < 256) w.code(0x190 + symbol - 144, 9);
  else if (symbol < 280) w.code(symbol - 256, 7);
  else w.code(0xc0 + symbol - 280, 8);
}

const DIST_BASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577];
const DIST_EXTRA = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
const WINDOW = 32768;
const HASH_SIZE = 1 << 15;
const MAX_MATCH = 258;
/** How many earlier places with the same next 3 bytes are tried for a match. */
const MAX_CHAIN = 24;

function lengthAndDistance(w: BitWriter, length: number, distance: number) {
  let code = LENGTH_BASE.length - 1;
  while (LENGTH_BASE[code] > length) code--;
  fixedSymbol(w, 257 + code);
  if (LENGTH_EXTRA[code] > 0) w.write(length - LENGTH_BASE[code], LENGTH_EXTRA[code]);
  let d = DIST_BASE.length - 1;
  while (DIST_BASE[d] > distance) d--;
  w.code(d, 5);
  if (DIST_EXTRA[d] > 0) w.write(distance - DIST_BASE[d], DIST_EXTRA[d]);
}

/**
 * zlib data (RFC 1950/1951) for the bytes: one block with the fixed Huffman codes, matches
 * found through a hash of the next 3 bytes (a run of one byte is tried first).
 */
export function zlibDeflate(data: Uint8Array): Uint8Array {
  const w = new BitWriter();
  w.write(0x78, 8);
  w.write(0x01, 8);
  w.write(1, 1); // the last block
  w.write(1, 2); // fixed Huffman codes
  const n = data.length;
  const head = new Int32Array(HASH_SIZE).fill(-1);
  const prev = new Int32Array(WINDOW).fill(-1);
  const hash = (i: number) => ((data[i] << 10) ^ (data[i + 1] << 5) ^ data[i + 2]) & (HASH_SIZE - 1);
  const insert = (i: number) => {
    if (i + 2 >= n) return;
    const h = hash(i);
    prev[i & (WINDOW - 1)] = head[h];
    head[h] = i;
  };
  let i = 0;
  while (i < n) {
    const limit = Math.min(MAX_MATCH, n - i);
    let bestLength = 0;
    let bestDistance = 0;
    if (i > 0) {
      const b = data[i - 1];
      while (bestLength < limit && data[i + bestLength] === b) bestLength++;
      bestDistance = 1;
    }
    if (bestLength < limit && i + 2 < n) {
      let candidate = head[hash(i)];
      for (let chain = 0; chain < MAX_CHAIN && candidate >= 0 && i - candidate <= WINDOW; chain++) {
        if (data[candidate + bestLength] === data[i + bestLength]) {
          let length = 0;
          while (length < limit && data[candidate + length] === data[i + length]) length++;
          if (length > bestLength) {
            bestLength = length;
            bestDistance = i - candidate;
            if (length === limit) break;
          }
        }
        const next = prev[candidate & (WINDOW - 1)];
        if (next >= candidate) break;
        candidate = next;
      }
    }
    if (bestLength >= 3) {
      lengthAndDistance(w, bestLength, bestDistance);
      // Long matches are white space: their positions are not worth remembering.
      const remembered = bestLength <= 32 ? bestLength : 1;
      for (let k = 0; k < remembered; k++) insert(i + k);
      i += bestLength;
    } else {
      fixedSymbol(w, data[i]);
      insert(i);
      i++;
    }
  }
  fixedSymbol(w, 256);
  const body = w.bytes();
  const out = new Uint8Array(body.length + 4);
  out.set(body);
  new DataView(out.buffer).setUint32(body.length, adler32(data));
  return out;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** The grey image as a PNG file. */
export function encodePng(image: GreyImage): Uint8Array {
  const { width, height, pixels } = image;
  const header = new Uint8Array(13);
  const hv = new DataView(header.buffer);
  hv.setUint32(0, width);
  hv.setUint32(4, height);
  header[8] = 8; // bits per sample
  header[9] = 0; // grey
  // compression, filter method and interlace stay 0

  const stride = width + 1;
  const raw = new Uint8Array(stride * height);
  const candidate = new Uint8Array(width);
  for (let y = 0; y < height; y++) {
    const row = pixels.subarray(y * width, (y + 1) * width);
    const above = y > 0 ? pixels.subarray((y - 1) * width, y * width) : null;
    let best = 0;
    let bestCost = Infinity;
    for (let filter = 0; filter <= 2; filter++) {
      if (filter === 2 && !above) continue;
      let cost = 0;
      for (let x = 0; x < width; x++) {
        const left = filter === 1 && x > 0 ? row[x - 1] : 0;
        const up = filter === 2 && above ? above[x] : 0;
        const v = (row[x] - left - up) & 0xff;
        cost += v < 128 ? v : 256 - v;
      }
      if (cost < bestCost) {
        bestCost = cost;
        best = filter;
      }
    }
    const out = raw.subarray(y * stride, (y + 1) * stride);
    out[0] = best;
    for (let x = 0; x < width; x++) {
      const left = best === 1 && x > 0 ? row[x - 1] : 0;
      const up = best === 2 && above ? above[x] : 0;
      candidate[x] = (row[x] - left - up) & 0xff;
    }
    out.set(candidate, 1);
  }

  const parts = [PNG_SIGNATURE, chunk('IHDR', header), chunk('IDAT', zlibDeflate(raw)), chunk('IEND', new Uint8Array(0))];
  const png = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    png.set(p, at);
    at += p.length;
  }
  return png;
}
