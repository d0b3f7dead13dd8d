// A camera photo made here: a JPEG of any size with an EXIF block that says when and where
// it was taken (DateTimeOriginal, GPS), as a phone writes one. The picture is a gradient
// with fine detail, so it compresses like a photo and not like a flat colour, and has no
// near-white pixel, so a white watermark stands out in it.
import jpeg from 'jpeg-js';

/** A little-endian TIFF block (what a JPEG's APP1 `Exif` segment holds): IFD0 pointing to an
 * Exif IFD with `taken` ("YYYY:MM:DD hh:mm:ss") and a GPS IFD with `gps` ([lat, lon]). */
export function exifBlock({ taken, gps }) {
  const ascii = (tag, text) => ({ tag, type: 2, count: text.length + 1, data: Buffer.from(`${text}\0`, 'latin1') });
  const dms = (tag, degrees) => {
    const d = Math.abs(degrees);
    const whole = Math.floor(d);
    const minutes = Math.floor((d - whole) * 60);
    const seconds = ((d - whole) * 60 - minutes) * 60;
    const data = Buffer.alloc(24);
    [[whole, 1], [minutes, 1], [Math.round(seconds * 10000), 10000]].forEach(([n, den], i) => {
      data.writeUInt32LE(n, i * 8);
      data.writeUInt32LE(den, i * 8 + 4);
    });
    return { tag, type: 5, count: 3, data };
  };
  const long = (tag, value) => {
    const data = Buffer.alloc(4);
    data.writeUInt32LE(value);
    return { tag, type: 4, count: 1, data };
  };
  const short = (tag, value) => {
    const data = Buffer.alloc(2);
    data.writeUInt16LE(value);
    return { tag, type: 3, count: 1, data };
  };
  const ifdSize = (entries) => 2 + entries.length * 12 + 4
    + entries.reduce((n, e) => n + (e.data.length > 4 ? e.data.length + (e.data.length % 2) : 0), 0);
  // Writes an IFD at `at`: its entries, then the data that does not fit inline.
  const ifd = (entries, at) => {
    const out = Buffer.alloc(ifdSize(entries));
    out.writeUInt16LE(entries.length, 0);
    let dataAt = 2 + entries.length * 12 + 4;
    entries.forEach((e, i) => {
      const o = 2 + i * 12;
      out.writeUInt16LE(e.tag, o);
      out.writeUInt16LE(e.type, o + 2);
      out.writeUInt32LE(e.count, o + 4);
      if (e.data.length <= 4) {
        e.data.copy(out, o + 8);
      } else {
        out.writeUInt32LE(at + dataAt, o + 8);
        e.data.copy(out, dataAt);
        dataAt += e.data.length + (e.data.length % 2);
      }
    });
    return out;
  };
  const exifEntries = [ascii(0x9003, taken)];
  const gpsEntries = [
    ascii(0x1, gps[0] < 0 ? 'S' : 'N'), dms(0x2, gps[0]),
    ascii(0x3, gps[1] < 0 ? 'W' : 'E'), dms(0x4, gps[1]),
  ];
  const ifd0Len = ifdSize([short(0x112, 1), long(0x8769, 0), long(0x8825, 0)]);
  const exifAt = 8 + ifd0Len;
  const exif = ifd(exifEntries, exifAt);
  const gpsAt = exifAt + exif.length;
  const gpsIfd = ifd(gpsEntries, gpsAt);
  const ifd0 = ifd([short(0x112, 1), long(0x8769, exifAt), long(0x8825, gpsAt)], 8);
  const header = Buffer.from([0x49, 0x49, 0x2a, 0, 8, 0, 0, 0]);
  return Buffer.concat([header, ifd0, exif, gpsIfd]);
}

/** A `width`×`height` JPEG (quality 90) with the EXIF block of `exif`. */
export function cameraJpeg(width, height, exif) {
  const data = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      const noise = ((Math.imul(x, 2654435761) ^ Math.imul(y, 40503)) >>> 27) * 3;
      data[i] = 40 + Math.floor((x * 150) / width) + noise;
      data[i + 1] = 60 + Math.floor((y * 120) / height);
      data[i + 2] = 90 + ((Math.floor(x / 7) + Math.floor(y / 5)) % 64);
      data[i + 3] = 255;
    }
  }
  const encoded = jpeg.encode({ data, width, height }, 90).data;
  const tiff = exifBlock(exif);
  const app1 = Buffer.alloc(4);
  app1.writeUInt16BE(0xffe1, 0);
  app1.writeUInt16BE(2 + 6 + tiff.length, 2);
  // SOI, then APP1 "Exif\0\0" + TIFF, then the rest of the encoded file.
  return Buffer.concat([encoded.subarray(0, 2), app1, Buffer.from('Exif\0\0', 'latin1'), tiff, encoded.subarray(2)]);
}
