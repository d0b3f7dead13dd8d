// End to end, a team relay in a village with no signal. The 组长's app turns on 开启组内同步
// (我的) and shows its QR code; a member's CLI tablet joins by what the code holds, records a
// check and syncs with the relay; the record appears in the lead's list; turned off, the
// relay's work goes to the server with the lead's own sync. Then a member's app joins a CLI
// lead's relay by the code's text; with the server down, the app syncs through the relay
// (the sync pill says 组内同步) and lists the lead's record. Screenshots 43–44.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import {
  startDisplay, startDriver, startServer, openApp, cliDevice, preparedAppDir, tempDir, cleanup, stopAll, CLI, PIN,
} from '../lib/harness.mjs';

const ROUND = '2024年第一轮';
const FROM_MEMBER = '上坪村到户补贴发放检查（组内同步）';
const FROM_LEAD = '上坪村危房改造补助核查（组长）';
let dir, driver, server, app, relay;

before(async () => {
  dir = tempDir();
  // The app's relay serves on loopback (on a tablet: every address, for the hotspot).
  process.env.XUNCHA_RELAY_LISTEN = '127.0.0.1:0';
  await startDisplay();
  driver = await startDriver();
  server = await startServer(dir);
  server.setUpRound(ROUND);
});

after(async () => {
  relay?.kill('SIGTERM');
  await app?.close();
  await server?.stop();
  stopAll();
  if (dir) cleanup(dir);
});

async function unlock(appDir) {
  app = await openApp(driver, appDir);
  await app.type('unlock-pin', PIN);
  await app.click('unlock-submit');
  await app.waitFor('record-list');
}

test('the lead’s app serves the team: a member joins by its QR code and its record comes through', async () => {
  const appDir = preparedAppDir(dir, server, 'lee', '李组长', 'team_lead');
  const wang = cliDevice(dir, server, 'wang', '王巡察', 'inspector');
  server.admin(['team', 'add', '--name', '第一巡察组', '--round', ROUND, '--lead', 'lee', '--members', 'wang', '--villages', '330199101000']);
  wang.run(['sync']);
  await unlock(appDir);
  await app.until('the app has its team', async () => {
    await app.click('sync-status');
    return (await app.attr('sync-status', 'data-state')) === 'synced';
  }, 60_000);

  await app.click('tab-me');
  await app.click('relay-switch');
  await app.shown('relay-qr', 30_000);
  const link = await app.attr('relay-qr', 'data-link');
  assert.ok(link.startsWith('xuncha:relay?'), link);
  assert.match(await app.attr('relay-qr', 'data-url'), /^https:\/\/127\.0\.0\.1:\d+$/);
  assert.match(await app.text('relay-code'), /\d{4} \d{4}/);
  await (await app.$('relay-code')).scrollIntoView({ block: 'center' });
  await app.shot('43-relay-qr');

  const joined = JSON.parse(wang.run(['relay', 'join', link, '--json']));
  assert.equal(joined.team.length > 0, true);
  wang.run(['record', 'new', '--kind', 'fund_check', '--title', FROM_MEMBER, '--village', '上坪村', '--json']);
  const sent = JSON.parse(wang.run(['relay', 'sync', '--json']));
  assert.ok(sent.sent >= 1, JSON.stringify(sent));

  await app.click('tab-records');
  await app.until('the member’s record in the lead’s list', async () => (await app.content('record-list')).includes(FROM_MEMBER), 30_000);

  // 关闭组内同步; the lead's own sync takes the member's record to the office.
  await app.click('tab-me');
  await app.click('relay-switch');
  await app.gone('relay-qr');
  const office = cliDevice(dir, server, 'zhao', '赵审核', 'supervisor');
  await app.until('the member’s record at the office', async () => {
    await app.click('sync-status');
    office.run(['sync']);
    return office.run(['record', 'list']).includes(FROM_MEMBER.slice(0, 6));
  }, 60_000);
  await app.close();
  app = null;
});

test('a member’s app joins a lead’s relay and syncs through it while the server is down', async () => {
  const appDir = preparedAppDir(dir, server, 'sun', '孙巡察', 'inspector');
  const qian = cliDevice(dir, server, 'qian', '钱组长', 'team_lead');
  server.admin(['team', 'add', '--name', '第二巡察组', '--round', ROUND, '--lead', 'qian', '--members', 'sun', '--villages', '330199101000']);
  qian.run(['sync']);
  qian.run(['record', 'new', '--kind', 'fund_check', '--title', FROM_LEAD, '--village', '上坪村', '--json']);
  relay = spawn(CLI, ['--db', qian.db, 'relay', '--listen', '127.0.0.1:0', '--json', '--bridge-ms', '200'], {
    env: { ...process.env, XUNCHA_PIN: PIN },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const [line] = await new Promise((resolve) => createInterface({ input: relay.stdout }).once('line', (l) => resolve([l])));
  const { link } = JSON.parse(line);

  await unlock(appDir);
  await app.click('tab-me');
  await app.click('relay-join');
  await app.shown('relay-join-dialog');
  await app.type('relay-link', 'xuncha:enroll?server=x&code=1');
  await app.clickSettled(await app.b.$('[data-testid="relay-join-dialog"] .van-dialog__confirm'));
  await app.until('a code that is none is refused', async () => (await app.b.$('.van-dialog__message').getText().catch(() => '')).includes('不是组内同步二维码'));
  await app.clickSettled(await app.b.$('.van-dialog:not([data-testid]) .van-dialog__confirm'));
  // The error's overlay fades over the join dialog, which stays open for another try.
  await new Promise((resolve) => setTimeout(resolve, 800));
  await app.retype('relay-link', link);
  await app.clickSettled(await app.b.$('[data-testid="relay-join-dialog"] .van-dialog__confirm'));
  await app.gone('relay-join-dialog');

  // The office is out of reach: the app goes through the team relay.
  await server.stop();
  await app.click('tab-records');
  // 同步 now (a tap on the pill) rather than at the next round of the background sync.
  await app.click('sync-status');
  await app.until('the lead’s record through the relay', async () => {
    const route = await app.attr('sync-status', 'data-route');
    return route === 'relay' && (await app.content('record-list')).includes(FROM_LEAD);
  }, 60_000);
  assert.match(await app.text('sync-text'), /组内同步/);
  await app.shot('44-relay-pill');
});
