// End to end, the documents that go upward: on a round set up on a real server, the
// inspector's CLI device records two fund checks, signs the second as 承办人 and submits it;
// the office's app (started with `--export-dir`, so the files land where the test looks and
// no Save dialog asks) syncs, opens the signed record and taps 生成底稿: the PDF is in the
// export folder, poppler's pdftotext reads the record's title and its 编号 in it (the number
// counted here by hand: the second record of the round and team), and the signature
// picture, fetched from the server, is in it. On the dashboard, filtered by the round, 导出 Excel writes a
// workbook of both records (a valid XLSX: its workbook part, its sheets, both titles and
// numbers); filtered to days with no record, it writes nothing and says why. Started again
// without `--export-dir`, 生成底稿 asks where the PDF goes in the system's Save dialog
// (answered in the page: WebDriver cannot reach a native dialog), titled 保存问题底稿,
// proposing the export's name, listing PDFs: the PDF is saved there and shown with its
// folder; the dialog cancelled, nothing is saved, shown or left behind.
// Screenshots 31–34.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import {
  startDisplay, startDriver, startServer, openApp, cliDevice, tempDir, cleanup, stopAll, cli, answerDialog, PIN, ROOT,
} from '../lib/harness.mjs';

const ROUND = '2024年第一轮';
const TEAM = '第一巡察组';
const FIRST = '上坪村到户补贴发放检查';
const SIGNED = '上坪村危房改造补助截留问题';
const SIGNATURE = path.join(ROOT, 'e2e/fixtures/receipt.png');
let dir, exportDir, driver, server, app, ids = {};

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

/** Text without the spaces and line breaks layout puts in (a long title wraps in a cell). */
const squeezed = (text) => text.replace(/\s+/g, '');

/** Syncs (as the sync button does) until `check` holds. */
async function syncUntil(what, check) {
  await app.until(what, async () => {
    if (await check()) return true;
    await app.click('sync-status');
    return false;
  }, 60_000);
}

/** The dialog an export ends with: what it wrote (or why not). */
async function exported() {
  await app.shown('exported-dialog', 120_000);
  return {
    path: await app.attr('exported-dialog', 'data-path'),
    document: await app.attr('exported-dialog', 'data-document'),
    number: await app.attr('exported-dialog', 'data-number'),
    error: await app.attr('exported-dialog', 'data-error'),
  };
}

async function closeExported() {
  await app.click('exported-close');
  await app.gone('exported-dialog');
}

test('the inspector records two fund checks on the CLI and signs and submits the second', () => {
  const inspector = cliDevice(dir, server, 'wang', '王巡察', 'inspector');
  server.addUser('zhao', '赵组长', 'team_lead');
  server.addUser('qian', '钱副组长', 'team_lead');
  server.addUser('liu', '刘审核', 'supervisor');
  server.admin(['team', 'add', '--name', TEAM, '--round', ROUND, '--lead', 'zhao', '--deputy', 'qian', '--members', 'wang', '--villages', '330199101000']);
  inspector.run(['sync']);
  for (const [title, allocated] of [[FIRST, '90000'], [SIGNED, '120000']]) {
    const made = JSON.parse(inspector.run([
      'record', 'new', '--kind', 'fund_check', '--title', title, '--village', '上坪村',
      '--set', 'fund_name=危房改造补助', '--set', 'fund_type=危房改造', '--set', `allocated=${allocated}`, '--json',
    ]));
    ids[title] = made.id;
  }
  inspector.run(['record', 'edit', ids[SIGNED], '--set', 'disbursed=96000', '--issue', '截留私分',
    '--narrative', '村会计将3户危房改造补助共计24,000元截留，未发放到户。']);
  inspector.run(['record', 'sign', ids[SIGNED], '--as', '承办人', '--image', SIGNATURE]);
  assert.equal(inspector.transition(ids[SIGNED], 'submitted', ['--note', '请审核']).status, 'submitted');
  inspector.run(['sync']);
});

test('生成底稿 on the signed record writes a PDF that holds its title and 编号', async () => {
  const appDir = path.join(dir, 'app-liu');
  mkdirSync(appDir, { recursive: true });
  const db = path.join(appDir, 'device.db');
  cli(['--db', db, 'init', '--user', 'liu', '--name', '刘审核', '--device', 'liu-app']);
  cli(['--db', db, 'enroll', '--server', server.url, '--code', server.enrollCode('liu'), '--name', '刘审核的电脑']);
  app = await openApp(driver, appDir, ['--export-dir', exportDir]);
  await app.type('unlock-pin', PIN);
  await app.click('unlock-submit');
  await app.waitFor('record-list');

  const row = `[data-testid="record-row"][data-id="${ids[SIGNED]}"]`;
  await syncUntil('both records on the device', async () =>
    (await app.b.$(row).isExisting()) && (await app.b.$(`[data-testid="record-row"][data-id="${ids[FIRST]}"]`).isExisting()));
  await app.clickSettled(await app.b.$(row));
  await app.until('the signed record open', async () => (await app.attr('editor', 'data-record')) === ids[SIGNED]);
  assert.equal(await app.attr('report-draft', 'data-kind'), 'draft');
  assert.match(await app.text('report-draft'), /生成底稿/);
  await app.click('report-draft');

  const written = await exported();
  assert.equal(written.error, '', 'the draft was made');
  assert.equal(written.document, 'draft');
  // Numbered over the round and team by creation: the signed record is the second.
  const number = `${ROUND}-${TEAM}-002`;
  assert.equal(written.number, number);
  assert.equal(await app.text('exported-number'), number);
  assert.equal(path.dirname(written.path), exportDir, 'written into the export folder');
  assert.ok(existsSync(written.path), written.path);
  assert.match(path.basename(written.path), /^问题底稿-.*\.pdf$/);
  await app.shot('31-draft-written');

  const text = squeezed(execFileSync('pdftotext', ['-raw', written.path, '-'], { encoding: 'utf8' }));
  for (const word of ['问题底稿', SIGNED, number, '承办人', '危房改造补助']) {
    assert.ok(text.includes(squeezed(word)), `“${word}” is not in the PDF's text:\n${text}`);
  }
  // The 承办人's signature, which only the inspector's device held, was fetched and is shown.
  const images = execFileSync('pdfimages', ['-list', written.path], { encoding: 'utf8' }).trim().split('\n').slice(2);
  assert.ok(images.length >= 1, `the signature picture is in the PDF: ${images}`);
  await closeExported();
});

test('导出 Excel on the dashboard writes the workbook of the filtered round; days with no record write nothing', async () => {
  await app.click('tab-dashboard');
  await app.waitFor('export-xlsx');
  await app.selectText('filter-round', ROUND);
  await app.until('the round picked', async () => (await app.value('filter-round')) === ROUND);
  const before = new Set(readdirSync(exportDir));
  await app.click('export-xlsx');

  const written = await exported();
  assert.equal(written.error, '', 'the workbook was made');
  assert.equal(written.document, 'workbook');
  assert.match(await app.text('exported-records'), /2 条记录/);
  assert.equal(path.dirname(written.path), exportDir);
  assert.ok(!before.has(path.basename(written.path)), 'a new file');
  assert.match(path.basename(written.path), new RegExp(`^巡察记录-${ROUND}-.*\\.xlsx$`));
  await app.shot('32-workbook-written');

  // A valid workbook: its parts, its sheets, both records with their numbers.
  const check = `
import json, re, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    names = z.namelist()
    workbook = z.read('xl/workbook.xml').decode()
    strings = z.read('xl/sharedStrings.xml').decode() if 'xl/sharedStrings.xml' in names else ''
    print(json.dumps({
        'valid': z.testzip() is None,
        'content_types': '[Content_Types].xml' in names,
        'sheets': re.findall(r'<sheet [^>]*name="([^"]+)"', workbook),
        'strings': strings,
    }))
`;
  const book = JSON.parse(execFileSync('python3', ['-c', check, written.path], { encoding: 'utf8' }));
  assert.ok(book.valid && book.content_types, 'a whole zip with its content types');
  assert.ok(book.sheets.length >= 2, `sheets: ${book.sheets}`);
  assert.equal(book.sheets[0], '记录');
  for (const word of [FIRST, SIGNED, `${ROUND}-${TEAM}-001`, `${ROUND}-${TEAM}-002`]) {
    assert.ok(book.strings.includes(word), `“${word}” is not in the workbook`);
  }
  await closeExported();

  // Days the round has no record in: nothing to export, and nothing written.
  await app.type('filter-from', '2020-01-01');
  await app.type('filter-to', '2020-12-31');
  await app.until('the filter applied', async () => (await app.value('filter-to')) === '2020-12-31');
  const count = readdirSync(exportDir).length;
  await app.click('export-xlsx');
  const refused = await exported();
  assert.equal(refused.error, 'bad_input');
  assert.equal(await app.attr('export-error', 'data-code'), 'nothing_to_export');
  assert.match(await app.text('export-error'), /没有记录/);
  await app.shot('33-nothing-to-export');
  assert.equal(readdirSync(exportDir).length, count, 'nothing written');
  await closeExported();
});

test('without --export-dir the Save dialog asks where the draft goes: it is saved there; cancelled, nowhere', async () => {
  await app.close();
  const appDir = path.join(dir, 'app-liu');
  const pending = path.join(appDir, 'exports-pending');
  app = await openApp(driver, appDir);
  await app.type('unlock-pin', PIN);
  await app.click('unlock-submit');
  await app.waitFor('record-list');
  const row = await app.waitFor(`[data-testid="record-row"][data-id="${ids[SIGNED]}"]`);
  await app.clickSettled(row);
  await app.until('the signed record open', async () => (await app.attr('editor', 'data-record')) === ids[SIGNED]);

  const chosen = path.join(dir, '报送材料', '上坪村问题底稿.pdf');
  mkdirSync(path.dirname(chosen), { recursive: true });
  await answerDialog(app, 'save', chosen);
  await app.click('report-draft');
  const saved = await exported();
  assert.equal(saved.error, '', 'the draft was made and saved');
  assert.equal(saved.path, chosen, 'saved where the user chose');
  assert.equal(await app.text('exported-name'), '上坪村问题底稿.pdf');
  assert.equal(await app.text('exported-folder'), path.dirname(chosen));
  const text = squeezed(execFileSync('pdftotext', ['-raw', chosen, '-'], { encoding: 'utf8' }));
  assert.ok(text.includes(squeezed(SIGNED)), `the title is in the saved PDF:\n${text}`);
  // The dialog was titled in Chinese, proposed the name the export gave the file, listed PDFs.
  const [asked, ...more] = await app.b.execute(() => window.__dialogAsked);
  assert.equal(more.length, 0, 'asked once');
  assert.equal(asked.title, '保存问题底稿');
  assert.deepEqual(asked.filters, [{ name: 'PDF 文档', extensions: ['pdf'] }]);
  assert.match(path.basename(asked.defaultPath), new RegExp(`^问题底稿-${ROUND}-${TEAM}-002-.*\\.pdf$`));
  assert.deepEqual(readdirSync(pending), [], 'moved, nothing left waiting');
  await app.shot('34-draft-saved-where-chosen');
  await closeExported();

  // Cancelled: nothing saved, nothing shown, nothing left behind.
  await answerDialog(app, 'save', null);
  await app.click('report-draft');
  await app.until('the dialog asked', async () => (await app.b.execute(() => window.__dialogAsked.length)) === 1, 120_000);
  await app.until('the export over', async () => !(await app.attr('report-draft', 'class')).includes('van-button--loading'));
  assert.equal(await app.$('exported-dialog').isDisplayed().catch(() => false), false, 'nothing shown');
  assert.deepEqual(readdirSync(pending), [], 'the file was dropped');
  assert.deepEqual(readdirSync(path.dirname(chosen)), [path.basename(chosen)], 'nothing more saved');
});
