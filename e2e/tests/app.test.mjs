// End to end: the real app binary, driven through tauri-driver and WebKitWebDriver under
// Xvfb, against a real server on loopback, with a second device on the real CLI.
// Screenshots of each step go to target/e2e/screenshots (README's come from there).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cameraJpeg } from '../lib/camera.mjs';
import {
  startDisplay, startDriver, startServer, openApp, cliDevice, preparedAppDir, tempDir, appPid, cleanup, stopAll,
  sleep, glDriverMapped, screenColours, PIN, ROOT,
} from '../lib/harness.mjs';

const PHOTO = path.join(ROOT, 'e2e/fixtures/receipt.png');
let dir, driver, server, inspectorDir, recordId;

before(async () => {
  dir = tempDir();
  await startDisplay();
  driver = await startDriver();
  server = await startServer(dir);
  server.addUser('wang', '王巡察', 'inspector');
  // The round's team: 赵组长 leads it, 钱副组长 is its 副组长, 王巡察 a member, assigned 东岭镇
  // (no divisions are imported: places are typed as CODE:NAME).
  server.addUser('zhao', '赵组长', 'team_lead');
  server.addUser('qian', '钱副组长', 'team_lead');
  server.admin(['round', 'add', '--name', '2024年第一轮', '--start', '2024-03-01', '--end', '2024-12-31']);
  server.admin(['team', 'add', '--name', '第一巡察组', '--round', '2024年第一轮', '--lead', 'zhao', '--deputy', 'qian', '--members', 'wang', '--villages', '330199101000']);
  inspectorDir = path.join(dir, 'app-wang');
});

after(async () => {
  await server?.stop();
  stopAll();
  if (dir) cleanup(dir);
});

async function waitSynced(app) {
  await app.until('the sync status to show synced with nothing waiting', async () => {
    const state = await app.attr('sync-status', 'data-state');
    const pending = await app.attr('sync-status', 'data-pending');
    return state === 'synced' && pending === '0';
  });
}

async function unlock(app) {
  await app.type('unlock-pin', PIN);
  await app.click('unlock-submit');
  await app.waitFor('record-list');
}

async function openRecord(app, title) {
  // The list may redraw between finding the row and tapping it (a sync lands): tap again.
  await app.until(`the record “${title}” open`, async () => {
    for (const r of await app.b.$$('[data-testid="record-row"]')) {
      const text = await app.b.execute((el) => el.textContent, r);
      if (text.includes(title)) {
        await r.click();
        return app.$('editor').isExisting();
      }
    }
    return false;
  });
}

test('enroll, set a PIN, record a fund check with three households and a photo, find it', async () => {
  const app = await openApp(driver, inspectorDir);
  try {
    await app.type('setup-server', server.url);
    await app.type('setup-code', server.enrollCode('wang'));
    await app.type('setup-device', '东岭村巡察平板');
    await app.shot('01-setup');
    // Drawing in software, the app process holds no OpenGL driver (WebKit's web process
    // loads its own), and the window on the display still shows the page.
    const pid = appPid(inspectorDir);
    assert.deepEqual(glDriverMapped(pid), [], 'the app process maps the OpenGL driver');
    // It started itself again with the allocator's setting that gives large blocks back.
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    assert.ok(environ.includes('GLIBC_TUNABLES=glibc.malloc.mmap_threshold=1048576'), 'the app runs without its allocator setting');
    const colours = screenColours();
    assert.ok(colours > 100, `the window shows ${colours} colours: it is not drawn`);
    await app.click('setup-next');
    await app.type('setup-pin', PIN);
    await app.type('setup-pin-again', PIN);
    await app.shot('02-pin');
    await app.click('setup-enroll');
    await app.waitFor('record-list');
    assert.match(await app.text('who'), /王巡察/);

    await app.click('new-record');
    const fund = await app.b.$('//button[contains(@class,"van-action-sheet__item") and contains(., "扶贫资金检查")]');
    await app.clickSettled(fund);
    await app.waitFor('editor');
    recordId = await app.attr('editor', 'data-record');
    await app.type('input-title', '东岭村2024年到户补贴发放检查');
    // The round and team may already be filled in from the user's team.
    await app.replace('input-round', '2024年第一轮');
    await app.type('input-township', '330199101000:东岭镇');
    await app.type('input-village', '330199101201:东岭村');
    await app.replace('input-team', '第一巡察组');
    await app.type('input-fund_name', '2024年到户产业补贴');
    await app.select('input-fund_type', 'household_subsidy');
    await app.type('input-allocated', '120000');
    // A malformed amount is refused on the spot and said so.
    await app.type('input-disbursed', '11万');
    await app.waitFor('unsaved-disbursed');
    await app.replace('input-disbursed', '118000');
    await app.until('the refused amount to be replaced', async () => !(await app.$('unsaved-disbursed').isExisting()));

    const households = [
      ['王建国', '3000', '3000'],
      ['李秀英', '3000', '2000'],
      ['张德明', '2500.50', '2500.50'],
    ];
    for (const [i, [head, entitled, received]] of households.entries()) {
      await app.click('add-beneficiaries');
      await app.waitFor(`input-beneficiaries-${i}-head`);
      await app.type(`input-beneficiaries-${i}-head`, head);
      await app.type(`input-beneficiaries-${i}-entitled`, entitled);
      await app.type(`input-beneficiaries-${i}-received`, received);
    }
    await app.click('issue-withheld_shared');
    // The household table's heads stay on screen while its rows scroll under them.
    const stuck = await app.b.execute(() => {
      const heads = document.querySelector('[data-testid="list-beneficiaries"] [data-testid="list-heads"]');
      let scroller = heads.parentElement;
      while (scroller && !['auto', 'scroll'].includes(getComputedStyle(scroller).overflowY)) scroller = scroller.parentElement;
      const table = heads.parentElement;
      scroller.scrollTop += table.getBoundingClientRect().top - scroller.getBoundingClientRect().top + 60;
      const at = { heads: heads.getBoundingClientRect().top, top: scroller.getBoundingClientRect().top, table: table.getBoundingClientRect().top };
      scroller.scrollTop = 0;
      return at;
    });
    assert.ok(Math.abs(stuck.heads - stuck.top) < 2 && stuck.table < stuck.top - 30, `sticky heads: ${JSON.stringify(stuck)}`);

    const picker = await app.$('attach-input');
    await picker.waitForExist();
    await picker.setValue(PHOTO);
    await app.waitFor('attachment-thumb');
    await app.until('every edit to be stored', async () => (await app.attr('save-state', 'data-saving')) === 'false');
    await app.shot('03-editor');

    // The photo full screen: a double tap zooms in, the zoom buttons out again; Escape closes.
    await app.click('attachment-view');
    await app.waitFor('viewer');
    assert.equal(await app.text('viewer-position'), '1 / 1');
    await (await app.$('viewer-image')).doubleClick();
    await app.until('the photo zoomed in', async () => Number(await app.attr('viewer', 'data-scale')) > 2);
    await app.shot('03a-photo-zoomed');
    await app.click('viewer-zoom-out');
    await app.until('zoomed out a step', async () => Number(await app.attr('viewer', 'data-scale')) < 2);
    await app.b.keys(['Escape']);
    await app.until('the viewer closed', async () => !(await app.$('viewer').isExisting()));

    // A 24-megapixel camera photo (10 MB, EXIF time and GPS of its own, not the record's):
    // stored at 2,560 px under 1.5 MB, with its own time and point, the watermark burned in.
    const camera = path.join(dir, 'camera-6000x4000.jpg');
    const original = cameraJpeg(6000, 4000, { taken: '2026:11:30 14:05:09', gps: [29.8683, 121.544] });
    writeFileSync(camera, original);
    await picker.setValue(camera);
    // 2026-11-30 14:05:09 at UTC+8 (the EXIF names no offset).
    const tile = await app.until('the camera photo stored', async () => {
      for (const t of await app.b.$$('[data-testid="attachment"]')) {
        if ((await t.getAttribute('data-taken')) === '1796018709000' && (await t.$('[data-testid="attachment-thumb"]').isExisting())) return t;
      }
      return null;
    }, 60_000);
    const size = Number(await tile.getAttribute('data-size'));
    assert.ok(size < 1_500_000 && size > 100_000, `stored at ${size} bytes from ${original.length}`);
    assert.match(await app.b.execute((el) => el.textContent, tile), /29\.8683, 121\.5440/);
    // The tile shows a thumbnail the app made, not the stored photo.
    await app.until('the thumbnail', async () => (await app.b.execute((el) => el.querySelector('img').naturalWidth, tile)) === 400);
    // Full screen: the stored photo, 2,560 px wide, its size what the record says, with the
    // stamp's white text in the bottom-left corner (the picture has no white of its own).
    await (await tile.$('[data-testid="attachment-view"]')).click();
    await app.waitFor('viewer');
    const image = await app.$('viewer-image');
    await app.until('the stored photo in the viewer', async () => (await app.b.execute((img) => img.complete && img.naturalWidth, image)) === 2560);
    const seen = await app.b.executeAsync((img, sha256, done) => {
      const canvas = document.createElement('canvas');
      canvas.width = img.naturalWidth;
      canvas.height = img.naturalHeight;
      const g = canvas.getContext('2d');
      g.drawImage(img, 0, 0);
      const white = (x, y, w, h) => {
        const px = g.getImageData(x, y, w, h).data;
        let n = 0;
        for (let i = 0; i < px.length; i += 4) if (px[i] > 235 && px[i + 1] > 235 && px[i + 2] > 235) n++;
        return n;
      };
      const h = img.naturalHeight;
      const found = { width: img.naturalWidth, height: h, stamp: white(0, h - 500, 900, 500), elsewhere: white(1600, 0, 900, 500) };
      // The stored bytes, as the app's attachment command returns them.
      window.__TAURI_INTERNALS__.invoke('attachment', { sha256, mime: 'image/jpeg' })
        .then((bytes) => done({ ...found, bytes: bytes.byteLength ?? bytes.length }), (e) => done({ ...found, error: String(e) }));
    }, image, await tile.getAttribute('data-sha256'));
    assert.deepEqual([seen.width, seen.height, seen.bytes], [2560, 1707, size], JSON.stringify(seen));
    assert.ok(seen.stamp > 2000 && seen.elsewhere === 0, `watermark: ${JSON.stringify(seen)}`);
    // README's figure comes from here.
    const figures = { original: { width: 6000, height: 4000, bytes: original.length }, stored: { width: seen.width, height: seen.height, bytes: size } };
    writeFileSync(path.join(ROOT, 'target/e2e/camera-photo.json'), `${JSON.stringify(figures, null, 2)}\n`);
    await app.shot('03b-camera-photo');
    await image.doubleClick();
    await app.until('the camera photo zoomed in', async () => Number(await app.attr('viewer', 'data-scale')) > 2);
    await app.b.keys(['Escape']);
    await app.until('the viewer closed', async () => !(await app.$('viewer').isExisting()));

    // In the list, and found by a Chinese phrase and by a household's name.
    await app.until('the new record in the list', async () => (await app.content('record-list')).includes('东岭村2024年到户补贴发放检查'));
    await app.type('search', '补贴发放');
    await app.until('the search result', async () => (await app.b.$$('[data-testid="record-row"]')).length === 1);
    await app.shot('04-search');
    await app.replace('search', '李秀英');
    await app.until('the search by household', async () => (await app.content('record-list')).includes('到户补贴'));

    await waitSynced(app);
    await app.shot('05-synced');
  } finally {
    await app.close();
  }
});

test('with the server stopped, an edit waits; when it returns the app syncs by itself', async () => {
  const app = await openApp(driver, inspectorDir);
  try {
    await unlock(app);
    await openRecord(app, '到户补贴发放检查');
    await server.stop();
    await app.until('the app to notice it is offline', async () => (await app.attr('sync-status', 'data-state')) === 'offline');
    await app.type('input-narrative', '李秀英户实领少于应享1000元，村会计称余款暂存村账。');
    await app.until('one change waiting', async () => (await app.attr('sync-status', 'data-pending')) === '1');
    assert.match(await app.text('sync-status'), /离线/);
    assert.match(await app.text('sync-waiting'), /1 项待上传/);
    await app.shot('06-offline');
    await server.start();
    await waitSynced(app);
    assert.match(await app.text('sync-text'), /上次同步/);
    await app.shot('07-back-online');
  } finally {
    await app.close();
  }
});

test('the inspector submits; a concurrent edit on a second device shows as a conflict that the supervisor settles; the 副组长 reviews and the 组长 signs; the supervisor approves with a conclusion; the inspector gets it', async () => {
  // The team lead's tablet (the CLI device) has the record, then both change the amount.
  const lead = cliDevice(dir, server, 'zhao', '赵组长');
  lead.run(['sync']);
  let app = await openApp(driver, inspectorDir);
  try {
    await unlock(app);
    await openRecord(app, '到户补贴发放检查');
    await app.replace('input-allocated', '125000');
    await app.until('the amount to be stored', async () => (await app.attr('save-state', 'data-saving')) === 'false');
    // The 承办人 submits; the next steps are the 副组长's (or the 组长's), shown with who takes them.
    await app.click('status-submitted');
    await app.until('submitted', async () => (await app.text('review-status')) === '待审核');
    assert.match(await app.text('waiting-deputy_reviewed'), /由副组长办理/);
    assert.match(await app.text('waiting-returned'), /由副组长或组长办理/);
    assert.equal(await app.$('status-deputy_reviewed').isExisting(), false);
    assert.equal(await app.attr('step-0', 'data-to'), 'submitted');
    await waitSynced(app);
  } finally {
    await app.close();
  }
  lead.run(['record', 'edit', recordId, '--set', 'allocated=121000']);
  lead.run(['sync']);

  // The supervisor's desktop, enrolled by the administrator, opens with its PIN.
  const supervisorDir = preparedAppDir(dir, server, 'liu', '刘审核', 'supervisor');
  app = await openApp(driver, supervisorDir);
  try {
    await app.waitFor('unlock-pin');
    await app.shot('08-unlock');
    await unlock(app);
    // Before going to 东岭村 without a signal: its records' photos, fetched in one tap.
    await (await app.b.$('//*[contains(@class,"van-dropdown-menu__title") and normalize-space(.)="村"]')).click();
    await (await app.b.$('//div[contains(@class,"van-dropdown-item__option") and contains(., "东岭村")]')).click();
    await app.until('the dropdown to close', async () => app.b.execute(() =>
      Array.from(document.querySelectorAll('.van-dropdown-item, .van-overlay')).every((e) => getComputedStyle(e).display === 'none' || e.getBoundingClientRect().height === 0)));
    await app.click('download-photos');
    await app.until('the village photos fetched', async () => /已下载 2 个文件/.test(await app.text('download-result')), 60_000);
    await app.shot('08a-village-photos');
    await openRecord(app, '到户补贴发放检查');
    await app.until('the conflicts shown', async () => app.$('conflicts').isExisting());
    const conflict = await app.text('conflict-0');
    assert.match(conflict, /125000\.00/);
    assert.match(conflict, /121000\.00/);
    // Authors by their name in the user directory, not their ids.
    assert.match(conflict, /王巡察/);
    assert.match(conflict, /赵组长/);
    await app.shot('09-conflict');
    const values = await app.b.$$('[data-testid^="conflict-0-value-"]');
    let keep = null;
    for (const [i, v] of values.entries()) if ((await v.getText()).includes('125000.00')) keep = i;
    assert.notEqual(keep, null);
    await app.click(`keep-0-${keep}`);
    await app.until('the conflict to be settled', async () => !(await app.$('conflicts').isExisting()));
    assert.equal(await (await app.$('input-allocated')).getValue(), '125000.00');
    // The submission covers the version before the settled amount: visibly void.
    await app.until('the submission to be marked void', async () => (await app.attr('step-0', 'data-void')) === 'true');
    assert.match(await app.text('step-0'), /已失效/);
    // The office cannot approve before the 副组长 and the 组长 have: nothing to click yet.
    assert.equal(await app.$('status-office_approved').isExisting(), false);
    assert.match(await app.text('waiting-deputy_reviewed'), /由副组长办理/);
    await waitSynced(app);

    // The 副组长 (CLI) reviews, then the 组长 (CLI) signs. Neither level is skipped: the 组长
    // may not review for his 副组长, nor approve for the office (exit 9).
    const deputy = cliDevice(dir, server, 'qian', '钱副组长');
    deputy.run(['sync']);
    lead.run(['sync']);
    const skip = lead.attempt(['record', 'transition', recordId, '--to', 'deputy_reviewed']);
    assert.equal(skip.status, 9, `${skip.stdout}${skip.stderr}`);
    const reviewed = deputy.transition(recordId, 'deputy_reviewed');
    assert.equal(reviewed.status, 'deputy_reviewed');
    assert.equal(reviewed.step.capacity, 'deputy');
    deputy.run(['sync']);
    lead.run(['sync']);
    const early = lead.attempt(['record', 'transition', recordId, '--to', 'office_approved', '--conclusion', '属实']);
    assert.equal(early.status, 9, `${early.stdout}${early.stderr}`);
    const signed = lead.transition(recordId, 'lead_signed');
    assert.equal(signed.status, 'lead_signed');
    assert.equal(signed.step.capacity, 'lead');
    const refused = lead.attempt(['record', 'transition', recordId, '--to', 'office_approved', '--conclusion', '属实']);
    assert.equal(refused.status, 9, `${refused.stdout}${refused.stderr}`);
    assert.match(refused.stderr + refused.stdout, /巡察办/);
    const next = JSON.parse(lead.run(['record', 'transitions', recordId, '--json']));
    assert.deepEqual(next.next.map((s) => [s.to, s.allowed]), [['office_approved', false], ['returned', false]]);
    lead.run(['sync']);

    await app.until('the 组长 signature to arrive', async () => {
      if ((await app.text('review-status')) === '组长已审签') return true;
      await app.click('sync-status');
      return false;
    }, 60_000);
    assert.equal(await app.attr('step-1', 'data-to'), 'deputy_reviewed');
    // Who took each step, by the name the user directory gives (the id in the tooltip).
    assert.match(await app.text('step-1'), /副组长 钱副组长/);
    assert.equal(await (await app.$('step-1')).$('[data-testid="user"]').getAttribute('title'), 'qian');
    assert.equal(await app.attr('step-2', 'data-to'), 'lead_signed');
    assert.match(await app.text('step-2'), /组长 赵组长/);
    assert.equal(await app.attr('step-2', 'data-void'), 'false');
    assert.match(await app.text('step-2'), /组长/);

    // 巡察办审核: a conclusion is required, given in the form.
    await app.click('status-office_approved');
    await app.shown('transition-form');
    await app.clickSettled(await app.$('transition-confirm'));
    await app.until('the form to ask for the conclusion', async () => (await app.text('transition-form-error')).includes('核实结论'));
    await app.clickSettled(await app.$('transition-conclusion-confirmed'));
    await app.type('transition-note', '以银行流水为准，余款已退回农户');
    await app.shot('10-review');
    await app.clickSettled(await app.$('transition-confirm'));
    await app.gone('transition-form');
    await app.until('approved', async () => (await app.text('review-status')) === '巡察办已审核');
    assert.match(await app.text('review-conclusion'), /属实/);
    assert.equal(await app.attr('step-3', 'data-to'), 'office_approved');
    assert.equal(await app.attr('step-3', 'data-void'), 'false');
    assert.match(await app.text('step-3'), /巡察办/);
    assert.match(await app.text('step-3'), /巡察办 刘审核/);
    assert.match(await app.text('step-3'), /以银行流水为准/);
    // Next: hand over, rectify or close, each the office's.
    await app.waitFor('status-handed_over');
    await app.waitFor('status-closed');
    await waitSynced(app);
    await app.click('tab-dashboard');
    await app.waitFor('total-records');
    await sleep(800);
    await app.shot('11-dashboard');
  } finally {
    await app.close();
  }

  app = await openApp(driver, inspectorDir);
  try {
    await unlock(app);
    await openRecord(app, '到户补贴发放检查');
    await app.until('the approval to arrive', async () => {
      if ((await app.text('review-status')) === '巡察办已审核') return true;
      await app.click('sync-status');
      return false;
    });
    assert.equal(await app.attr('step-3', 'data-void'), 'false');
    assert.equal(await app.attr('step-3', 'data-to'), 'office_approved');
    assert.match(await app.text('review-conclusion'), /属实/);
    assert.equal(await (await app.$('input-allocated')).getValue(), '125000.00');
    // Nothing left for the inspector to take: the office's steps are shown with who takes them.
    assert.equal((await app.b.$$('[data-testid^="status-"]')).length, 0);
    assert.match(await app.text('waiting-handed_over'), /由巡察办办理/);
    await (await app.$('steps')).scrollIntoView({ block: 'center' });
    await app.shot('12-decision-received');
  } finally {
    await app.close();
  }
});

test('killing the app right after typing loses nothing that was on screen', async () => {
  let app = await openApp(driver, inspectorDir);
  const typed = '；回访时农户确认已补发。';
  let expected;
  try {
    await unlock(app);
    await openRecord(app, '到户补贴发放检查');
    const original = await (await app.$('input-narrative')).getValue();
    expected = original + typed;
    await app.type('input-narrative', typed);
    // The moment the last key is on screen: no wait for a save indicator.
    const pid = appPid(inspectorDir);
    assert.ok(pid, 'the app process');
    process.kill(pid, 'SIGKILL');
  } finally {
    await app.close();
  }
  assert.ok(existsSync(path.join(inspectorDir, 'device.db')));
  app = await openApp(driver, inspectorDir);
  try {
    await unlock(app);
    await openRecord(app, '到户补贴发放检查');
    assert.equal(await (await app.$('input-narrative')).getValue(), expected);
  } finally {
    await app.close();
  }
});
