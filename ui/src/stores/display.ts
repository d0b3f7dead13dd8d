// How the app is shown on this device: the text size (standard, large, extra large) and the
// theme (default, or high contrast for sunlight). Kept in the web view's local storage, so a
// tablet keeps its setting through locking and restarts; applied to <html>, which style.css
// reads (`data-text-size`, `data-theme`).
import { defineStore } from 'pinia';

export type TextSize = 'standard' | 'large' | 'xlarge';
export type Theme = 'default' | 'contrast';
export const TEXT_SIZES: TextSize[] = ['standard', 'large', 'xlarge'];

const KEY = 'xuncha.display';

interface Display {
  textSize: TextSize;
  theme: Theme;
}

/** The saved setting; anything unreadable is the default. */
export function savedDisplay(): Display {
  try {
    const saved = JSON.parse(localStorage.getItem(KEY) ?? '{}') as Partial<Display>;
    return {
      textSize: TEXT_SIZES.includes(saved.textSize as TextSize) ? (saved.textSize as TextSize) : 'standard',
      theme: saved.theme === 'contrast' ? 'contrast' : 'default',
    };
  } catch {
    return { textSize: 'standard', theme: 'default' };
  }
}

/** How much each text size enlarges the app. */
export const ZOOM: Record<TextSize, number> = { standard: 1, large: 1.15, xlarge: 1.3 };

/** Shows the app with `display`. The text size zooms the web view itself, as a browser's
 * zoom does: the layout gets fewer CSS px to fill, reflows (a landscape tablet at 特大 lays
 * out like a narrower one), and taps land where they are drawn. */
export function applyDisplay(display: Display) {
  const html = document.documentElement;
  html.dataset.textSize = display.textSize;
  html.dataset.theme = display.theme;
  void zoomWebview(ZOOM[display.textSize]);
}

async function zoomWebview(scale: number) {
  if (!('__TAURI_INTERNALS__' in window)) return;
  try {
    const { getCurrentWebview } = await import('@tauri-apps/api/webview');
    await getCurrentWebview().setZoom(scale);
  } catch {
    // Not in the app (a unit test): nothing to zoom.
  }
}

export const useDisplay = defineStore('display', {
  state: (): Display => savedDisplay(),
  actions: {
    set(change: Partial<Display>) {
      Object.assign(this, change);
      const display = { textSize: this.textSize, theme: this.theme };
      localStorage.setItem(KEY, JSON.stringify(display));
      applyDisplay(display);
    },
  },
});
