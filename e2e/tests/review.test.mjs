// End to end, the review desk: 20 fund checks submitted by the demo inspector and reviewed by
// the 副组长 (on CLI tablets) wait in the 组长's queue in the app. The queue shows who
// submitted each and when, the team, the village and the amount, oldest first, and sorts by
// amount; the 组长 signs all 20 off from the sticky decision bar, half by taps and half by
// keys, never scrolling. The taps and keys per record are counted and written to
// target/e2e/review-desk.json (README's figures come from there). Screenshots 24–26.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { mkdirSync, writeFileSync } from 'node:fs';
import {
  startDisplay, startDriver, startServer, openApp, cliDevice, enrolledAppDir, tempDir, cleanup, stopAll, PIN, ROOT,
} from '../lib/harness.mjs';

let dir, driver, server, app;
const RECORDS = 20;

before(async () => {
  dir = tempDir();
  await startDisplay();
  driver = await startDriver();
  server = await startServer(dir);
  server.admin(['demo']);
  const inspector = cliDevice(dir, server, 'demo-inspector', '演示巡察员');
  inspector.run(['sync']);
  for (let i = 1; i <= RECORDS; i++) {
    const id = inspector.run([
      'record', 'new', '--kind', 'fund_check', '--title', `上坪村补贴核查第${i}户组`, '--village', '上坪村',
      '--set', 'fund_name=到户产业补贴', '--set', 'fund_type=household_subsidy', '--set', `allocated=${10000 + ((i * 7) % RECORDS) * 1000}`,
    ]).trim().split(/\s+/).pop();
    inspector.transition(id, 'submitted');
  }
  inspector.run(['sync']);
  const deputy = cliDevice(dir, server, 'demo-deputy', '演示副组长');
  deputy.run(['sync']);
  for (const row of JSON.parse(deputy.run(['record', 'list', '--status', 'submitted', '--limit', '100', '--json']))) {
    deputy.transition(row.record_id, 'deputy_reviewed');
  }
  deputy.run(['sync']);
  // The 组长's desktop: enrolled, locked by its PIN.
  app = await openApp(driver, enrolledAppDir(dir, server, 'demo-lead', '演示组长'));
});

after(async () => {
  await app?.close();
  await server?.stop();
  stopAll();
  if (dir) cleanup(dir);
});

/** How many records the queue holds (the list draws only the rows on screen). */
async function held() {
  return Number(await app.attr('record-list', 'data-count'));
}

/** The queue's rows on screen: record id, and the lines under the title. */
async function queue() {
  return app.b.execute(() => Array.from(document.querySelectorAll('[data-testid="record-row"]')).map((r) => ({
    id: r.dataset.id,
    line: r.querySelector('[data-testid="queue-line"]')?.textContent ?? '',
  })));
}

test('the 组长 signs off 20 queued records from the decision bar, by taps and by keys, without scrolling', async () => {
  await app.type('unlock-pin', PIN);
  await app.click('unlock-submit');
  await app.waitFor('record-list');
  await app.click('tab-review');
  await app.until(`${RECORDS} records in the queue`, async () => (await held()) === RECORDS, 60_000);
  const rows = await queue();
  assert.ok(rows.length >= 5, `${rows.length} rows on screen`);
  for (const r of rows) {
    assert.match(r.line, /演示巡察员 · \d\d-\d\d \d\d:\d\d 提交/, r.line);
    assert.match(r.line, /第一巡察组/);
    assert.match(r.line, /上坪村/);
    assert.match(r.line, /拨付 \d{2},\d{3}\.00 元/);
  }
  await app.shot('24-review-queue');

  // Sorted by amount, the largest first; then back to the oldest submission first.
  const menu = (shown) => app.b.$(`//div[contains(@class,"van-dropdown-menu__item") and contains(., "${shown}")]`);
  /** Until the dropdown has slid away with its overlay (it covers the list meanwhile). */
  const closed = () => app.until('the dropdown to close', async () => app.b.execute(() =>
    Array.from(document.querySelectorAll('.van-dropdown-item, .van-overlay')).every((e) => getComputedStyle(e).display === 'none' || e.getBoundingClientRect().height === 0)));
  await app.clickSettled(await menu('提交最早'));
  const byAmount = await app.b.$('//div[contains(@class,"van-dropdown-item__option") and contains(., "金额最大")]');
  await app.clickSettled(byAmount);
  await app.until('the queue sorted by amount', async () => {
    const amounts = (await queue()).map((r) => Number(r.line.match(/拨付 ([\d,]+)\./)[1].replace(/,/g, '')));
    return amounts.length >= 5 && amounts[0] === 29000 && amounts.every((a, i) => i === 0 || amounts[i - 1] >= a);
  });
  await closed();
  await app.clickSettled(await menu('金额最大'));
  const oldest = await app.b.$('//div[contains(@class,"van-dropdown-item__option") and contains(., "提交最早")]');
  await app.clickSettled(oldest);
  await app.until('the queue oldest first', async () => (await queue())[0]?.id === rows[0].id);
  await closed();

  // The first record opened from the queue; then each one: the step, and 下一条.
  let taps = 0;
  let keys = 0;
  const signed = new Set();
  const first = await app.b.$(`[data-testid="record-row"][data-id="${rows[0].id}"]`);
  await first.click();
  taps += 1;
  const started = Date.now();
  const scrollTop = () => app.b.execute(() => document.querySelector('.editor-pane')?.scrollTop ?? 0);
  for (let n = 0; n < RECORDS; n++) {
    const id = await app.until('a record open', async () => app.attr('editor', 'data-record'));
    assert.ok(!signed.has(id), `record ${id} came twice`);
    assert.equal(await app.attr('status-lead_signed', 'data-key'), '1', 'the 组长\'s sign-off is key 1');
    // The bar is on screen without scrolling: its buttons lie inside the window.
    const bar = await app.b.execute(() => {
      const box = document.querySelector('[data-testid="decision-bar"]').getBoundingClientRect();
      return { top: box.top, bottom: box.bottom, height: window.innerHeight };
    });
    assert.ok(bar.bottom <= bar.height + 1 && bar.top >= 0, `the decision bar is on screen: ${JSON.stringify(bar)}`);
    if (n === 0) await app.shot('25-decision-bar');
    const byKeys = n >= RECORDS / 2;
    if (byKeys) {
      await app.b.keys(['1']);
      keys += 1;
    } else {
      await (await app.$('status-lead_signed')).click();
      taps += 1;
    }
    await app.until('signed off', async () => (await app.attr('review-status', 'data-status')) === 'lead_signed');
    signed.add(id);
    if (n === RECORDS - 1) break;
    if (byKeys) {
      await app.b.keys(['n']);
      keys += 1;
    } else {
      await (await app.$('next-record')).click();
      taps += 1;
    }
    await app.until('the next record', async () => (await app.attr('editor', 'data-record')) !== id);
    assert.equal(await scrollTop(), 0, 'the next record opens at its top: nothing was scrolled');
  }
  const seconds = (Date.now() - started) / 1000;
  assert.equal(signed.size, RECORDS);
  await app.until('the queue empty', async () => (await held()) === 0);
  await app.shot('26-queue-done');

  const tapsPerRecord = (taps - 1) / (RECORDS / 2);
  const keysPerRecord = keys / (RECORDS / 2);
  const figures = {
    records: RECORDS,
    taps_per_record: tapsPerRecord,
    keys_per_record: keysPerRecord,
    first_open_taps: 1,
    scrolls: 0,
    seconds,
    seconds_per_record: Math.round((seconds / RECORDS) * 100) / 100,
  };
  mkdirSync(path.join(ROOT, 'target/e2e'), { recursive: true });
  writeFileSync(path.join(ROOT, 'target/e2e/review-desk.json'), `${JSON.stringify(figures, null, 2)}\n`);
  console.log(`review desk: ${JSON.stringify(figures)}`);
  // One tap or key for the step, one for 下一条 (the last record needs no 下一条).
  assert.ok(tapsPerRecord <= 2 && keysPerRecord <= 2, JSON.stringify(figures));
});
