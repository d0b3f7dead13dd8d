// End to end, a tablet held upright (800×1280): the main scenario again, from enrolling to a
// record with a household from the roster, the list, the dashboard, the 问题清单 and 我的, each
// screen screenshotted and audited for contrast and touch targets in both themes (as every
// screenshot is; lib/audit.mjs). Then the largest text size: the layout still fits the
// width, and the tab bar stays on screen. Screenshots p01–p08.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  startDisplay, startDriver, startServer, openApp, tempDir, cleanup, stopAll, PIN,
} from '../lib/harness.mjs';

let dir, driver, server, app;
const TITLE = '上坪村竖屏到户补贴检查';

before(async () => {
  dir = tempDir();
  await startDisplay();
  driver = await startDriver();
  server = await startServer(dir);
  server.admin(['demo']);
  app = await openApp(driver, path.join(dir, 'app-portrait'), ['--window-size', '800x1280']);
});

after(async () => {
  await app?.close();
  await server?.stop();
  stopAll();
  if (dir) cleanup(dir);
});

/** The page's width and height as the app lays out, and whether anything sticks out sideways. */
async function layout() {
  return app.b.execute(() => ({
    width: window.innerWidth,
    height: window.innerHeight,
    overflow: document.documentElement.scrollWidth - window.innerWidth,
    tabsBottom: document.querySelector('.van-tabbar')?.getBoundingClientRect().bottom ?? null,
  }));
}

test('upright: enroll, record a fund check with a roster household, then the list, dashboard, 问题清单 and 我的', async () => {
  const size = await layout();
  assert.equal(size.width, 800, `the window is 800 px wide (${JSON.stringify(size)})`);
  assert.ok(size.height > size.width, 'portrait');
  await app.type('setup-server', server.url);
  await app.type('setup-code', server.enrollCode('demo-inspector'));
  await app.type('setup-device', '竖屏巡察平板');
  await app.shot('p01-setup');
  await app.click('setup-next');
  await app.type('setup-pin', PIN);
  await app.type('setup-pin-again', PIN);
  await app.click('setup-enroll');
  await app.waitFor('record-list');
  await app.until('the round received', async () => (await app.attr('new-record', 'data-places')) === 'true', 60_000);
  await app.shot('p02-list');

  await app.click('new-record');
  const fund = await app.b.$('//button[contains(@class,"van-action-sheet__item") and contains(., "扶贫资金检查")]');
  await app.clickSettled(fund);
  await app.shown('new-record-sheet');
  await app.selectText('new-township', '东岭镇');
  await app.selectText('new-village', '上坪村');
  await app.shot('p03-new-record');
  await app.clickSettled(await app.$('new-create'));
  await app.gone('new-record-sheet');
  await app.waitFor('editor');
  await app.type('input-title', TITLE);
  await app.type('input-fund_name', '2024年到户产业补贴');
  await app.select('input-fund_type', 'household_subsidy');
  await app.type('input-allocated', '90000');
  await app.click('add-beneficiaries');
  await app.waitFor('input-beneficiaries-0-head');
  await app.type('input-beneficiaries-0-head', '王建国');
  await app.type('input-beneficiaries-0-entitled', '3000');
  await app.type('input-beneficiaries-0-received', '2000');
  await app.until('every edit to be stored', async () => (await app.attr('save-state', 'data-saving')) === 'false');
  await app.shot('p04-editor');
  assert.ok((await layout()).overflow <= 0, 'the editor fits the width');

  // One record at a time upright: back to the list.
  await app.click('editor-back');
  await app.until('the record in the list', async () => (await app.content('record-list')).includes(TITLE));
  await app.shot('p05-list-with-record');

  await app.click('tab-dashboard');
  await app.waitFor('dashboard');
  await app.shot('p06-dashboard');
  await app.click('tab-problems');
  await app.waitFor('problems');
  await app.shot('p07-problems');
  await app.click('tab-me');
  await app.waitFor('me');
  await app.shot('p08-me');

  // The largest text: the web view zooms (800 px of glass hold 615 CSS px), the layout
  // reflows and still fits the width, and the tab bar stays on screen. (Taps are sent by
  // script here: WebKitWebDriver places its clicks as if the page were not zoomed.)
  const tap = (testid) => app.b.execute((id) => document.querySelector(`[data-testid="${id}"]`).click(), testid);
  await tap('text-size-xlarge');
  await app.until('the web view zoomed', async () => (await layout()).width < 700);
  await tap('tab-records');
  await app.waitFor('record-list');
  const large = await layout();
  assert.ok(Math.abs(large.width - 800 / 1.3) < 2, `800 px hold ${large.width} CSS px at 特大`);
  assert.ok(large.overflow <= 1, `nothing sticks out sideways at the largest text (${JSON.stringify(large)})`);
  assert.ok(large.tabsBottom !== null && large.tabsBottom <= large.height + 1, `the tab bar is on screen (${JSON.stringify(large)})`);
  await tap('tab-me');
  await tap('text-size-standard');
  await app.until('back to the standard size', async () => (await layout()).width === 800);
});
