// Vant is registered one component at a time (src/vant.ts) to keep the bundle small: every
// `<van-…>` tag in the templates is registered, and its styles are imported in the order of
// Vant's whole stylesheet.
/// <reference types="node" />
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it, expect } from 'vitest';
import { createApp } from 'vue';
import { vant } from '../src/vant';
import registration from '../src/vant.ts?raw';

const templates = import.meta.glob('../src/**/*.vue', { query: '?raw', import: 'default', eager: true }) as Record<string, string>;

/** A file of the Vant package, read from disk (Vitest hands CSS imports over empty). */
function vantFile(path: string): string | undefined {
  const file = join(dirname(fileURLToPath(import.meta.url)), '../node_modules/vant', path);
  return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
}
const wholeStylesheet = vantFile('lib/index.css')!;

/** The Vant tags the templates use: `van-button`, … */
function tagsInUse(): string[] {
  const tags = new Set<string>();
  for (const text of Object.values(templates)) {
    for (const match of text.matchAll(/<(van-[a-z-]+)/g)) tags.add(match[1]);
  }
  return [...tags].sort();
}

/** The stylesheets src/vant.ts imports, in order, as paths under vant/es: `button/index.css`. */
const imported = [...registration.matchAll(/^import 'vant\/es\/([a-z/-]+\.css)';$/gm)].map((m) => m[1]);

describe('vant registration', () => {
  it('registers every Vant component a template uses', () => {
    const tags = tagsInUse();
    expect(tags.length).toBeGreaterThan(0);
    const app = createApp({});
    app.use(vant);
    expect(tags.filter((tag) => !app.component(tag))).toEqual([]);
  });

  it('imports the styles of every component in use and of those it is built from', () => {
    // showToast, showDialog and showConfirmDialog mount a toast and a dialog themselves.
    const names = [...tagsInUse().map((tag) => tag.slice('van-'.length)), 'toast', 'dialog'];
    const needed = new Set<string>();
    for (const name of names) {
      const list = vantFile(`es/${name}/style/index.mjs`);
      expect(list, name).toBeDefined();
      for (const [, path] of list!.matchAll(/import "(\.\.\/[^"]+)";/g)) {
        needed.add(path.startsWith('../../') ? path.slice('../../'.length) : `${name}/${path.slice('../'.length)}`);
      }
    }
    expect([...needed].filter((path) => !imported.includes(path)).sort()).toEqual([]);
  });

  it('imports the styles in the order of the whole stylesheet', () => {
    expect(wholeStylesheet.length).toBeGreaterThan(100_000);
    const position = new Map(imported.map((path): [string, number] => {
      const text = vantFile(`es/${path}`);
      expect(text?.trim(), path).toBeTruthy();
      if (!text) return [path, -1];
      const whole = wholeStylesheet.indexOf(text.trim());
      // A rule the whole stylesheet merged with another's: where its first class is.
      const at = whole >= 0 ? whole : wholeStylesheet.indexOf(text.match(/\.van-[\w-]+/)![0]);
      expect(at, path).toBeGreaterThanOrEqual(0);
      return [path, at];
    }));
    expect(imported).toEqual([...imported].sort((a, b) => position.get(a)! - position.get(b)!));
  });
});
