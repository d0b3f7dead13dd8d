// Legibility and touch, checked by machine on every screen the end-to-end tests visit (each
// screenshot is a screen): axe-core's colour-contrast rule (WCAG AA: 4.5:1 for text, 3:1 for
// large text) in the default theme and in the high-contrast theme, and the bounding box of
// every visible button, input, select, switch, checkbox, radio, tab and link (at least 44×44
// CSS px, as a gloved finger needs), and no "中文 / English" message anywhere on it. A screen
// with a violation fails the test that shows it, naming the element, the theme and the numbers.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
export const THEMES = ['default', 'contrast'];
/** The smallest touch target, in CSS px. */
export const MIN_TARGET = 44;

/** What people tap: the controls themselves (a van-checkbox or van-switch is a div with a
 * role), not the decorations inside them. */
const TARGETS = [
  'button', 'input:not([type="hidden"]):not([type="file"])', 'select', 'textarea', 'a[href]',
  '[role="switch"]', '[role="checkbox"]', '[role="radio"]', '[role="button"]', '[role="tab"]',
  '.van-switch', '.van-tabbar-item', '.van-dropdown-menu__item', '.van-tag__close', '.van-popup__close-icon',
].join(', ');

/** Runs in the page: the interactive elements smaller than `min` in either direction. */
function smallTargets(selector, min) {
  const name = (el) => {
    const id = el.getAttribute('data-testid') ?? el.closest('[data-testid]')?.getAttribute('data-testid');
    const text = (el.getAttribute('aria-label') ?? el.textContent ?? el.getAttribute('placeholder') ?? '').trim().slice(0, 24);
    return `${el.tagName.toLowerCase()}${el.className && typeof el.className === 'string' ? `.${el.className.trim().split(/\s+/).slice(0, 2).join('.')}` : ''}${id ? ` [${id}]` : ''}${text ? ` “${text}”` : ''}`;
  };
  const shown = (el) => {
    if (el.closest('[aria-hidden="true"], [inert]')) return false;
    for (let e = el; e; e = e.parentElement) {
      const style = getComputedStyle(e);
      if (style.display === 'none' || style.visibility === 'hidden' || Number(style.opacity) === 0) return false;
    }
    const box = el.getBoundingClientRect();
    return box.width > 0 && box.height > 0;
  };
  const found = [];
  for (const el of document.querySelectorAll(selector)) {
    // A control inside another one (the input of a van-field's cell is its own target; the
    // icon of a checkbox is not) is judged as the outer one.
    if (el.parentElement?.closest(selector) && !el.matches('input, select, textarea')) continue;
    if (!shown(el)) continue;
    // An input inside its label (a roster row's checkbox) or a van-field (whose label is for
    // the input) is reached through the whole of it.
    const host = el.matches('input, textarea, select') ? el.closest('label, .van-field') : null;
    const box = (host ?? el).getBoundingClientRect();
    const [w, h] = [box.width, box.height].map((v) => Math.round(v * 10) / 10);
    if (w + 0.5 < min || h + 0.5 < min) found.push(`${name(el)}: ${w}×${h}`);
  }
  return found;
}

/** Runs in the page: axe-core's colour-contrast violations, each with its numbers. */
async function contrastViolations() {
  const result = await window.axe.run(document, {
    runOnly: { type: 'rule', values: ['color-contrast'] },
    resultTypes: ['violations'],
  });
  const found = [];
  for (const v of result.violations) {
    for (const node of v.nodes) {
      const data = node.any?.[0]?.data ?? {};
      found.push(`${node.target.join(' ')} “${(node.html ?? '').replace(/\s+/g, ' ').slice(0, 80)}”: ${data.contrastRatio}:1 (${data.fgColor} on ${data.bgColor}, ${data.fontSize} ${data.fontWeight}, needs ${data.expectedContrastRatio})`);
    }
  }
  return found;
}

/** Runs in the page: text shown as "中文 / English", Rust's bilingual messages, which must
 * never reach the screen (every error is worded by its code in one language). */
function bilingual() {
  const found = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.textContent ?? '';
    if (/[\u3400-\u9fff][^\n]{0,200} \/ [A-Za-z]{2,}/.test(text) && node.parentElement?.closest('script, style') == null) {
      found.push(text.trim().slice(0, 120));
    }
  }
  return found;
}

/** Runs in the page: waits (up to 3 s) for every finite animation and transition to end. */
async function settle() {
  const finite = () => document.getAnimations().filter((a) => a.playState === 'running'
    && Number.isFinite(a.effect?.getComputedTiming().endTime ?? Infinity));
  const deadline = Date.now() + 3000;
  for (let running = finite(); running.length > 0 && Date.now() < deadline; running = finite()) {
    await Promise.race([Promise.all(running.map((a) => a.finished.catch(() => {}))), new Promise((r) => setTimeout(r, 250))]);
  }
}

/** axe-core's contrast violations in each theme, the page's own theme put back after. */
async function contrastInThemes(browser) {
  const found = [];
  const before = await browser.execute(() => document.documentElement.dataset.theme ?? 'default');
  try {
    for (const theme of THEMES) {
      await browser.execute(async (t) => {
        document.documentElement.dataset.theme = t;
        await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
      }, theme);
      for (const v of await browser.execute(contrastViolations)) found.push(`contrast (${theme} theme): ${v}`);
    }
  } finally {
    await browser.execute((t) => (document.documentElement.dataset.theme = t), before);
  }
  return found;
}

/** Everything wrong with the screen now shown, in both themes; empty when it passes. */
export async function auditScreen(browser) {
  const problems = [];
  // axe-core, put into the page as WebDriver runs scripts there (the app's content security
  // policy allows no inline <script>): its UMD wrapper sets window.axe.
  if (!(await browser.execute(() => typeof window.axe === 'object'))) {
    const loaded = await browser.execute(`${AXE}\n;return typeof window.axe;`);
    if (loaded !== 'object') throw new Error(`axe-core did not load into the page (${loaded})`);
  }
  // A screen in the middle of a transition (a toast fading out, a dialog sliding in) is not
  // yet the screen: its colours are blends. So contrast is judged once every finite animation
  // has ended (spinners, which never end, are left running), and a violation is judged again
  // after the next settling: a toast that began to fade while it was judged is gone by then,
  // a real violation is still there.
  let contrast = [];
  for (let attempt = 0; attempt < 2; attempt += 1) {
    await browser.execute(settle);
    contrast = await contrastInThemes(browser);
    if (contrast.length === 0) break;
  }
  problems.push(...contrast);
  for (const v of await browser.execute(smallTargets, TARGETS, MIN_TARGET)) problems.push(`target under ${MIN_TARGET}×${MIN_TARGET} px: ${v}`);
  for (const v of await browser.execute(bilingual)) problems.push(`a bilingual message on screen: “${v}”`);
  return problems;
}
