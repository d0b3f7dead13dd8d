// Reads the text of a QR code in a photo or picture (the enrollment code the administrator
// prints): the image is drawn on a canvas, scaled down if large, and decoded by jsQR. The
// text goes to Rust, which says whether it is an enrollment link. jsQR is loaded on the first
// scan, in its own chunk: only the first-run screen scans codes.

/** The longest side an image is decoded at: a phone photo is scaled down to it. */
const MAX_SIDE = 1600;

/** The text of the first QR code found in the pixels, or null. */
export async function decodePixels(data: Uint8ClampedArray, width: number, height: number): Promise<string | null> {
  const { default: jsQR } = await import('jsqr');
  return jsQR(data, width, height, { inversionAttempts: 'attemptBoth' })?.data ?? null;
}

function loadImage(file: Blob): Promise<HTMLImageElement> {
  const url = URL.createObjectURL(file);
  return new Promise<HTMLImageElement>((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error('not an image'));
    image.src = url;
  }).finally(() => URL.revokeObjectURL(url));
}

/** The text of the QR code in an image file, or null when none can be read. */
export async function decodeQrImage(file: Blob): Promise<string | null> {
  let image: HTMLImageElement;
  try {
    image = await loadImage(file);
  } catch {
    return null;
  }
  const scale = Math.min(1, MAX_SIDE / Math.max(image.naturalWidth, image.naturalHeight, 1));
  // A white margin: a code cropped to its edge still has the quiet zone jsQR needs.
  const margin = 16;
  const width = Math.max(1, Math.round(image.naturalWidth * scale)) + 2 * margin;
  const height = Math.max(1, Math.round(image.naturalHeight * scale)) + 2 * margin;
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext('2d', { willReadFrequently: true });
  if (!context) return null;
  context.fillStyle = '#fff';
  context.fillRect(0, 0, width, height);
  context.drawImage(image, margin, margin, width - 2 * margin, height - 2 * margin);
  const pixels = context.getImageData(0, 0, width, height);
  return decodePixels(pixels.data, width, height);
}
