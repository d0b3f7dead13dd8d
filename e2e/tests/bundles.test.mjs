// End to end, sync by file where no network reaches: an inspector's CLI tablet (its own data
// folder) records two fund checks and never syncs them; it exports a sync bundle to the
// office app's key, read on 我的. The app (a second data folder) imports the file through the
// system's Open dialog (answered in the page: WebDriver cannot reach a native dialog), says
// what it merged, saves the receipt for the tablet and lists both records; the tablet
// imports the receipt (both acknowledged). The app's own bundle back to the tablet: a key
// that is none is refused with the reason; to the tablet's key it carries only what the
// tablet lacks (a teammate's record the office synced), which the tablet then lists.
// Screenshots 41–42.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { existsSync, mkdirSync } from 'node:fs';
import {
  startDisplay, startDriver, startServer, openApp, cliDevice, preparedAppDir, tempDir, cleanup, stopAll, answerDialog, PIN,
} from '../lib/harness.mjs';

const ROUND = '2024年第一轮';
const TITLES = ['上坪村到户补贴发放检查（离线）', '上坪村危房改造补助核查（离线）'];
const TEAMMATE = '上坪村低保资金发放检查';
let dir, exportDir, driver, server, app, tablet;

before(async () => {
  dir = tempDir();
  exportDir = path.join(dir, 'exports');
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

test('a tablet’s bundle reaches the app by file: its records are listed and the receipt goes back', async () => {
  tablet = cliDevice(dir, server, 'wang', '王巡察', 'inspector');
  tablet.run(['sync']);
  for (const title of TITLES) {
    tablet.run(['record', 'new', '--kind', 'fund_check', '--title', title, '--village', '上坪村', '--json']);
  }
  const appDir = preparedAppDir(dir, server, 'liu', '刘审核', 'supervisor');
  app = await openApp(driver, appDir, ['--export-dir', exportDir]);
  await app.type('unlock-pin', PIN);
  await app.click('unlock-submit');
  await app.waitFor('record-list');
  for (const title of TITLES) assert.ok(!(await app.content('record-list')).includes(title), 'not synced');

  await app.click('tab-me');
  await app.waitFor('bundle-key');
  const key = await app.until('the app’s key', async () => {
    const text = (await app.text('bundle-key')).trim();
    return text.startsWith('xuncha1:') ? text : null;
  });
  const bundle = path.join(dir, 'U盘', 'wang-to-office.xcb');
  mkdirSync(path.dirname(bundle), { recursive: true });
  tablet.run(['bundle', 'export', '--to', key, '--out', bundle]);

  await answerDialog(app, 'open', bundle);
  await app.click('import-bundle');
  await app.shown('bundle-imported', 60_000);
  assert.equal(await app.attr('bundle-imported', 'data-merged'), '2');
  const receipt = await app.attr('bundle-imported', 'data-receipt');
  assert.equal(path.dirname(receipt), exportDir, 'the receipt is saved in the export folder');
  assert.ok(existsSync(receipt));
  assert.match(await app.text('bundle-receipt'), /同步包回执/);
  const [asked] = await app.b.execute(() => window.__dialogAsked);
  assert.equal(asked.title, '选择同步包');
  assert.deepEqual(asked.filters, [{ name: '巡察通同步包', extensions: ['xcb'] }]);
  await app.shot('41-bundle-imported');
  await app.clickSettled(await app.b.$('[data-testid="bundle-imported"] .van-dialog__confirm'));
  await app.gone('bundle-imported');

  await app.click('tab-records');
  await app.until('both records in the list', async () => {
    const list = await app.content('record-list');
    return TITLES.every((title) => list.includes(title));
  });
  const marked = JSON.parse(tablet.run(['bundle', 'import', receipt, '--json']));
  assert.equal(marked.kind, 'receipt');
  assert.equal(marked.acknowledged, 2);
});

test('the app’s bundle to the tablet carries a teammate’s record it lacks; a key that is none is refused', async () => {
  // A teammate's record reaches the office by sync; the tablet in the village lacks it.
  const zhao = cliDevice(dir, server, 'zhao', '赵巡察', 'inspector');
  zhao.run(['sync']);
  zhao.run(['record', 'new', '--kind', 'fund_check', '--title', TEAMMATE, '--village', '上坪村', '--json']);
  zhao.run(['sync']);
  await app.until('the teammate’s record synced to the app', async () => {
    if ((await app.content('record-list')).includes(TEAMMATE)) return true;
    await app.click('sync-status');
    return false;
  }, 60_000);

  await app.click('tab-me');
  await app.click('export-bundle');
  await app.shown('export-bundle-dialog');
  await app.type('bundle-to', 'xuncha1:不是密钥');
  await app.clickSettled(await app.b.$('[data-testid="export-bundle-dialog"] .van-dialog__confirm'));
  await app.shown('exported-dialog', 60_000);
  assert.equal(await app.attr('exported-dialog', 'data-error'), 'bad_peer_key');
  assert.match(await app.text('export-error'), /接收方密钥无效/);
  await app.click('exported-close');
  await app.gone('exported-dialog');

  const key = tablet.run(['identity']);
  await app.click('export-bundle');
  await app.shown('export-bundle-dialog');
  await app.retype('bundle-to', key);
  await app.clickSettled(await app.b.$('[data-testid="export-bundle-dialog"] .van-dialog__confirm'));
  await app.shown('exported-dialog', 60_000);
  assert.equal(await app.attr('exported-dialog', 'data-error'), '');
  assert.equal(await app.attr('exported-dialog', 'data-document'), 'bundle');
  const file = await app.attr('exported-dialog', 'data-path');
  assert.equal(path.dirname(file), exportDir);
  assert.ok(file.endsWith('.xcb'));
  await app.shot('42-bundle-exported');
  await app.click('exported-close');
  await app.gone('exported-dialog');
  const read = JSON.parse(tablet.run(['bundle', 'import', file, '--json']));
  assert.equal(read.kind, 'changes');
  assert.equal(read.documents, 1, 'only what the tablet lacks: not the records it sent');
  assert.equal(read.merged, 1);
  assert.match(tablet.run(['record', 'list']), new RegExp(TEAMMATE.replace(/[（）]/g, '.')));
});
