// End to end, the 巡察办's report: a round and its team on a real server; the inspector, the
// 副组长 and the 组长 on CLI devices take two fund checks up to the office, whose supervisor
// (on the CLI) approves both, hands one over to the 纪委监委 and puts the other into
// rectification; the supervisor's app syncs and its dashboard, filtered by the round, counts
// 发现问题 2, 移交 1, 整改中 1, 已销号 0 (and nothing for days that exclude them); the record
// list shows the overdue light and the 问题清单 lists both with their states.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { mkdirSync } from 'node:fs';
import {
  startDisplay, startDriver, startServer, openApp, cliDevice, tempDir, cleanup, stopAll, cli, PIN,
} from '../lib/harness.mjs';

const ROUND = '2024年第一轮';
const HANDED = '上坪村到户补贴虚报冒领';
const RECTIFIED = '上坪村产业扶贫资金挪用';
let dir, driver, server, app, ids = {};

before(async () => {
  dir = tempDir();
  await startDisplay();
  driver = await startDriver();
  server = await startServer(dir);
  server.setUpRound(ROUND);
});

after(async () => {
  await app?.close();
  await server?.stop();
  stopAll();
  if (dir) cleanup(dir);
});

/** Syncs (as the sync button does) until `check` holds. */
async function syncUntil(what, check) {
  await app.until(what, async () => {
    if (await check()) return true;
    await app.click('sync-status');
    return false;
  }, 60_000);
}

const card = (name) => app.text(`card-${name}-value`);
async function cards() {
  return {
    found: await card('problems-found'), handed: await card('handed-over'), rectifying: await card('rectifying'),
    rectified: await card('rectified'),
  };
}

test('two fund checks go up to the office: one handed over, one into rectification', () => {
  const inspector = cliDevice(dir, server, 'wang', '王巡察', 'inspector');
  const lead = cliDevice(dir, server, 'zhao', '赵组长', 'team_lead');
  const deputy = cliDevice(dir, server, 'qian', '钱副组长', 'team_lead');
  const office = cliDevice(dir, server, 'liu', '刘审核', 'supervisor');
  server.admin(['team', 'add', '--name', '第一巡察组', '--round', ROUND, '--lead', 'zhao', '--deputy', 'qian', '--members', 'wang', '--villages', '330199101000']);
  for (const device of [inspector, lead, deputy, office]) device.run(['sync']);

  for (const [title, allocated] of [[HANDED, '90000'], [RECTIFIED, '150000']]) {
    const made = JSON.parse(inspector.run([
      'record', 'new', '--kind', 'fund_check', '--title', title, '--village', '上坪村',
      '--set', 'fund_name=到户产业补贴', '--set', 'fund_type=到户补贴', '--set', `allocated=${allocated}`, '--json',
    ]));
    ids[title] = made.id;
    assert.equal(inspector.transition(made.id, 'submitted').status, 'submitted');
  }
  inspector.run(['sync']);
  deputy.run(['sync']);
  for (const id of Object.values(ids)) assert.equal(deputy.transition(id, 'deputy_reviewed').status, 'deputy_reviewed');
  deputy.run(['sync']);
  lead.run(['sync']);
  for (const id of Object.values(ids)) assert.equal(lead.transition(id, 'lead_signed').status, 'lead_signed');
  lead.run(['sync']);
  office.run(['sync']);
  for (const id of Object.values(ids)) {
    assert.equal(office.transition(id, 'office_approved', ['--conclusion', '属实']).status, 'office_approved');
  }
  const handed = office.transition(ids[HANDED], 'handed_over', ['--handover-to', '纪委监委', '--handover-no', '清巡移〔2024〕3号', '--handover-date', '2024-04-02']);
  assert.equal(handed.status, 'handed_over');
  const ledger = JSON.parse(office.run([
    'rectify', ids[RECTIFIED], '--unit', '上坪村党支部', '--owner', '村支书', '--deadline', '2024-06-30', '--kind', '限期整改',
    '--measures', '退还挪用资金，完善公示', '--json',
  ]));
  assert.equal(ledger.status, 'rectifying');
  office.run(['sync']);
});

test("the supervisor's dashboard, filtered by the round, counts the problems; days that exclude them count none", async () => {
  // The supervisor's desktop: the same user, a second device enrolled by the administrator.
  const appDir = path.join(dir, 'app-liu');
  mkdirSync(appDir, { recursive: true });
  const db = path.join(appDir, 'device.db');
  cli(['--db', db, 'init', '--user', 'liu', '--name', '刘审核', '--device', 'liu-app']);
  cli(['--db', db, 'enroll', '--server', server.url, '--code', server.enrollCode('liu'), '--name', '刘审核的电脑']);
  app = await openApp(driver, appDir);
  await app.type('unlock-pin', PIN);
  await app.click('unlock-submit');
  await app.waitFor('record-list');

  await app.click('tab-dashboard');
  await app.waitFor('total-records');
  await syncUntil('both problems on the dashboard', async () => (await card('problems-found')) === '2');
  await app.selectText('filter-round', ROUND);
  await app.until('the round picked', async () => (await app.value('filter-round')) === ROUND);
  await app.until('the round’s figures', async () =>
    JSON.stringify(await cards()) === JSON.stringify({ found: '2', handed: '1', rectifying: '1', rectified: '0' }));
  assert.match(await app.text('card-handed-over'), /纪委监委 1 件/);
  assert.match(await app.text('card-problems-found'), /个/);
  // The deadline (2024-06-30) has passed: overdue, red.
  assert.equal(await card('overdue'), '1');
  assert.equal(await card('rate'), '0');
  assert.match(await app.content('rate-unit'), /上坪村党支部/);
  await app.shot('21-dashboard-round');

  await app.type('filter-from', '2020-01-01');
  await app.type('filter-to', '2020-12-31');
  await app.until('nothing in 2020', async () =>
    JSON.stringify(await cards()) === JSON.stringify({ found: '0', handed: '0', rectifying: '0', rectified: '0' }));
  await app.click('filter-clear');
  await app.until('the figures back', async () => (await card('problems-found')) === '2');
  assert.equal(await app.value('filter-round'), '');
});

test("the dashboard's charts, measured as drawn: whole-number axes, no label touching another, the ring's names clear of it", async () => {
  const drawn = await app.b.execute(() => {
    const box = (el) => {
      const r = el.getBoundingClientRect();
      return { left: r.left, right: r.right, top: r.top, bottom: r.bottom, text: el.textContent };
    };
    const bars = ['chart-township', 'chart-status'].map((id) => {
      const chart = document.querySelector(`[data-testid="${id}"]`);
      const svg = chart.querySelector('svg');
      return {
        id,
        svg: box(svg),
        ticks: [...chart.querySelectorAll('[data-testid="chart-tick"]')].map((t) => t.textContent),
        labels: [...chart.querySelectorAll('[data-testid="chart-label"]')].map(box),
        bars: chart.querySelectorAll('rect').length,
      };
    });
    const ring = document.querySelector('[data-testid="chart-ring"]');
    return {
      bars,
      ring: box(ring),
      counts: [...ring.querySelectorAll('[data-testid="chart-slice-count"]')].map(box),
      legend: [...document.querySelectorAll('[data-testid="chart-legend"] li')].map(box),
    };
  });
  const overlap = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
  const inside = (a, b) => a.left >= b.left - 0.5 && a.right <= b.right + 0.5 && a.top >= b.top - 0.5 && a.bottom <= b.bottom + 0.5;
  for (const chart of drawn.bars) {
    assert.ok(chart.bars > 0, `${chart.id} draws bars`);
    assert.ok(chart.ticks.length >= 2 && chart.ticks.every((t) => /^\d+$/.test(t)), `${chart.id}: whole-number ticks, got ${chart.ticks}`);
    assert.ok(chart.labels.length > 0, `${chart.id} names its bars`);
    for (const [i, a] of chart.labels.entries()) {
      assert.ok(inside(a, chart.svg), `${chart.id}: ${a.text} is inside the chart`);
      for (const b of chart.labels.slice(i + 1)) assert.ok(!overlap(a, b), `${chart.id}: ${a.text} and ${b.text} do not touch`);
    }
  }
  assert.ok(drawn.legend.length > 0, 'the ring has a legend');
  for (const item of drawn.legend) assert.ok(!overlap(item, drawn.ring), `the legend's ${item.text} is clear of the ring`);
  for (const count of drawn.counts) assert.ok(inside(count, drawn.ring), `the count ${count.text} is on the ring`);
  await app.b.execute(() => document.querySelector('[data-testid="chart-kind"]').scrollIntoView({ block: 'center' }));
  await app.shot('21b-dashboard-charts');
});

test('the 问题清单 lists both with their states; the list shows the overdue light', async () => {
  await app.click('open-problems');
  await app.waitFor('problems');
  const handed = await app.waitFor(`problem-${ids[HANDED]}`);
  const rectifying = await app.waitFor(`problem-${ids[RECTIFIED]}`);
  assert.match(await handed.getText(), /已移交|移交/);
  assert.match(await app.content(`problem-${ids[HANDED]}`), /纪委监委/);
  assert.match(await app.content(`problem-${ids[RECTIFIED]}`), /上坪村党支部/);
  assert.match(await app.content(`problem-${ids[RECTIFIED]}`), /属实/);
  const badge = await rectifying.$('[data-testid="light-badge"]');
  assert.equal(await badge.getAttribute('data-light'), 'red');
  assert.match(await badge.getText(), /^逾期 \d+ 天$/);
  await app.shot('22-problem-list');

  // Tapping a problem opens it among the records, where its row carries the light.
  await app.clickSettled(await rectifying.$('[data-testid="problem-open"]'));
  await app.until('the problem open', async () => (await app.attr('editor', 'data-record')) === ids[RECTIFIED]);
  const row = await app.waitFor(`[data-testid="record-row"][data-id="${ids[RECTIFIED]}"]`);
  const light = await row.$('[data-testid="light-badge"]');
  assert.equal(await light.getAttribute('data-light'), 'red');
  assert.match(await light.getText(), /^逾期 \d+ 天$/);
  assert.equal(await (await app.b.$(`[data-testid="record-row"][data-id="${ids[HANDED]}"] [data-testid="light-badge"]`)).isExisting(), false);
});
