// How this device stores the photos it takes: the on-site watermark (time, place,
// inspector, 编号 burned in), the long side photos are downscaled to before they are stored
// and synced, and whether the file as taken is kept beside the stored copy. Kept in the web
// view's local storage, like the display settings; sent with every photo attached.
import { defineStore } from 'pinia';

export const LONG_SIDES = [1280, 1920, 2560] as const;
export type LongSide = (typeof LONG_SIDES)[number];

const KEY = 'xuncha.photos';

export interface PhotoPrefs {
  watermark: boolean;
  longSide: LongSide;
  keepOriginal: boolean;
}

export const DEFAULT_PHOTO_PREFS: PhotoPrefs = { watermark: true, longSide: 2560, keepOriginal: false };

/** The saved setting; anything unreadable is the default. */
export function savedPhotoPrefs(): PhotoPrefs {
  try {
    const saved = JSON.parse(localStorage.getItem(KEY) ?? '{}') as Partial<PhotoPrefs>;
    return {
      watermark: typeof saved.watermark === 'boolean' ? saved.watermark : DEFAULT_PHOTO_PREFS.watermark,
      longSide: LONG_SIDES.includes(saved.longSide as LongSide) ? (saved.longSide as LongSide) : DEFAULT_PHOTO_PREFS.longSide,
      keepOriginal: typeof saved.keepOriginal === 'boolean' ? saved.keepOriginal : DEFAULT_PHOTO_PREFS.keepOriginal,
    };
  } catch {
    return { ...DEFAULT_PHOTO_PREFS };
  }
}

export const usePhotoPrefs = defineStore('photoPrefs', {
  state: (): PhotoPrefs => savedPhotoPrefs(),
  actions: {
    set(change: Partial<PhotoPrefs>) {
      Object.assign(this, change);
      localStorage.setItem(KEY, JSON.stringify({ watermark: this.watermark, longSide: this.longSide, keepOriginal: this.keepOriginal }));
    },
  },
});
