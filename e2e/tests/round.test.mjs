// End to end, the round: a server set up with `xuncha admin demo` (divisions, 2024年第一轮,
// 第一巡察组 with its 组长/副组长/组员 and places, the 到户补贴 rosters of 东岭镇's villages),
// a new tablet enrolled by photographing its QR code, records placed by picking 乡镇/村 by
// name, households picked from the roster with the shortfall shown, a gang clue whose
// relation is picked from its subjects, records submitted, a draft withdrawn, the server's
// address changed, and an edit from the 组长's tablet arriving while the app is locked.
// Screenshots 13–20 follow the first test file's.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import {
  startDisplay, startDriver, startServer, openApp, cliDevice, tempDir, cleanup, stopAll, sleep, PIN,
} from '../lib/harness.mjs';

let dir, driver, server, app, lead, deputy, supervisor, fundCheckId, assetCheckId;
const ASSET_TITLE = '溪口村集体土地发包核查';
const FUND_TITLE = '上坪村2024年到户补贴发放检查';
const INFORMANT = '石门村举报人钱某某';
const INFORMANT_PHONE = '13955556666';

before(async () => {
  dir = tempDir();
  await startDisplay();
  driver = await startDriver();
  server = await startServer(dir);
  server.admin(['demo']);
  // The district's protected-data key, made before any device enrolls (the file is what
  // the commission keeps offline).
  server.admin(['protected-key', 'init', '--out', path.join(dir, 'protected-data.key')]);
  app = await openApp(driver, path.join(dir, 'app-demo-inspector'));
});

after(async () => {
  await app?.close();
  await server?.stop();
  stopAll();
  if (dir) cleanup(dir);
});

async function saved() {
  await app.until('every edit to be stored', async () => (await app.attr('save-state', 'data-saving')) === 'false');
}

/** A new record of `kind`, made in a 乡镇 and 村 picked by name before it exists; the round
 * and team come from the inspector's team there. */
async function newRecord(kind, township, village) {
  const before = (await app.$('editor').isExisting()) ? await app.attr('editor', 'data-record') : null;
  await app.click('new-record');
  const item = await app.b.$(`//button[contains(@class,"van-action-sheet__item") and contains(., "${kind}")]`);
  await app.clickSettled(item);
  await app.shown('new-record-sheet');
  await app.selectText('new-township', township);
  await app.selectText('new-village', village);
  await app.clickSettled(await app.$('new-create'));
  await app.gone('new-record-sheet');
  const id = await app.until(`the new ${kind}`, async () => {
    if (!(await app.$('editor').isExisting())) return null;
    const now = await app.attr('editor', 'data-record');
    return now !== before ? now : null;
  });
  await app.until('the round and team to be filled in', async () =>
    (await app.value('input-round')) === '2024年第一轮' && (await app.value('input-team')) === '第一巡察组');
  return id;
}

async function submit() {
  await saved();
  await app.until('the record to be complete', async () => (await app.content('problems')).includes('信息完整'));
  await app.click('status-submitted');
  await app.until('submitted', async () => (await app.text('review-status')) === '待审核');
}

async function listHas(title) {
  return (await app.content('record-list')).includes(title);
}

/** The list row of the record titled `title`. */
async function rowOf(title) {
  return app.until(`the record “${title}” in the list`, async () => {
    for (const r of await app.b.$$('[data-testid="record-row"]')) {
      if ((await app.b.execute((el) => el.textContent, r)).includes(title)) return r;
    }
    return null;
  });
}

/** Syncs (as the sync button does) until `check` holds. */
async function syncUntil(what, check) {
  await app.until(what, async () => {
    if (await check()) return true;
    await app.click('sync-status');
    return false;
  }, 60_000);
}

test('a new tablet enrolls by photographing its QR code', async () => {
  const png = server.enrollQr('demo-inspector', path.join(dir, 'enroll-demo-inspector.png'));
  const picker = await app.$('setup-qr-input');
  await picker.waitForExist();
  await picker.setValue(png);
  await app.until('the server and code read from the QR code', async () => (await app.value('setup-server')) === server.url);
  assert.match(await app.value('setup-code'), /\S{6,}/);
  await app.waitFor('setup-scanned');
  await app.type('setup-device', '上坪村巡察平板');
  await app.shot('13-setup-qr');
  await app.click('setup-next');
  await app.type('setup-pin', PIN);
  await app.type('setup-pin-again', PIN);
  await app.click('setup-enroll');
  await app.waitFor('record-list');
  assert.match(await app.text('who'), /演示巡察员/);
});

test('a fund check placed by name gets three households from the roster, and shows the shortfall', async () => {
  // The round's reference data arrives with the first sync after enrolling.
  await app.until('the places of the round', async () => (await app.attr('new-record', 'data-places')) === 'true');
  fundCheckId = await newRecord('扶贫资金检查', '东岭镇', '石门村');
  // Moved in the editor: the village picked by name, the township kept.
  await app.selectText('pick-village', '上坪村');
  await app.until('the village to be 上坪村', async () => (await app.value('pick-village')) === '330199101001');
  assert.equal(await app.value('pick-township'), '330199101000');
  await app.type('input-title', FUND_TITLE);
  await app.type('input-fund_name', '到户补贴');
  await app.select('input-fund_type', 'household_subsidy');
  await app.type('input-allocated', '100000');

  await app.click('add-from-roster');
  await app.shown('roster-picker');
  await app.until('the village roster', async () => (await app.b.$$('[data-testid="roster-row"]')).length === 24);
  const rows = await app.b.execute(() =>
    Array.from(document.querySelectorAll('[data-testid="roster-row"]')).map((r) => ({ head: r.dataset.head, tail: r.dataset.idTail })));
  // Three heads whose names no one else in the roster shares, found at once by name.
  const unique = rows.filter((r) => rows.filter((o) => o.head.includes(r.head) || r.head.includes(o.head)).length === 1);
  assert.ok(unique.length >= 3, `three households with unique names among ${JSON.stringify(rows)}`);
  const picked = unique.slice(0, 3);
  await app.type('roster-search', picked.map((r) => r.head).join(' '));
  await app.until('the three households found', async () => (await app.b.$$('[data-testid="roster-row"]')).length === 3);
  for (const r of picked) {
    const box = await app.waitFor(`roster-check-${r.head}-${r.tail}`);
    await box.click();
  }
  await app.until('three households chosen', async () => (await app.text('roster-add')).includes('3'));
  await app.shot('14-roster-picker');
  await app.click('roster-add');
  await app.gone('roster-picker');
  await app.until('the three households in the table', async () => (await app.value('input-beneficiaries-2-head')) !== null);
  const heads = [0, 1, 2].map((i) => app.value(`input-beneficiaries-${i}-head`));
  assert.deepEqual(await Promise.all(heads), picked.map((r) => r.head));

  // 实领: in full, 1,000 yuan short, in full.
  for (const i of [0, 1, 2]) {
    const entitled = Number(await app.value(`input-beneficiaries-${i}-entitled`));
    await app.type(`input-beneficiaries-${i}-received`, String(i === 1 ? entitled - 1000 : entitled));
  }
  await saved();
  await app.until('the shortfall finding', async () => (await app.content('findings')).includes('实领少于应享 1,000.00 元'));
  assert.match(await app.content('findings'), new RegExp(`${picked[1].head}：实领少于应享 1,000.00 元`));
  assert.equal(await app.text('beneficiaries-1-difference'), '1,000.00');
  assert.equal(await app.text('beneficiaries-0-difference'), '0.00');
  assert.equal(await app.text('total-difference'), '1,000.00');
  assert.equal(await app.text('total-head'), '合计');
  await (await app.$('list-beneficiaries')).scrollIntoView({ block: 'start' });
  await app.shot('15-shortfall');
});

test('a gang clue with two subjects and a relation picked from them, an asset check and a conduct issue are submitted', async () => {
  await newRecord('涉黑涉恶线索', '东岭镇', '石门村');
  await app.type('input-title', '石门村强揽工程线索');
  await app.select('input-clue_source', 'petition_report');
  for (const [i, name, employer] of [[0, '周某', '石门村委会'], [1, '吴某', '石门建筑队']]) {
    await app.click('add-subjects');
    await app.type(`input-subjects-${i}-name`, name);
    await app.type(`input-subjects-${i}-employer`, employer);
  }
  await app.select('input-subjects-0-political_status', 'party_member');
  await app.click('add-relations');
  await app.selectText('input-relations-0-from', '周某');
  await app.selectText('input-relations-0-to', '吴某');
  await app.select('input-relations-0-relation_kind', 'protective_umbrella');
  await app.type('informant-name', INFORMANT);
  await app.type('informant-contact', INFORMANT_PHONE);
  await saved();
  await (await app.$('list-subjects')).scrollIntoView({ block: 'start' });
  await app.shot('16-gang-clue');
  await submit();

  assetCheckId = await newRecord('农村集体三资核查', '西溪乡', '溪口村');
  await app.type('input-title', ASSET_TITLE);
  await submit();

  await newRecord('作风问题', '南塘镇', '塘头村');
  await app.type('input-title', '塘头村干部违规吃请');
  await app.type('input-subject', '塘头村村委委员');
  await app.select('input-four_winds', 'hedonism');
  await submit();
  await app.until('the submitted records in the list', async () =>
    (await listHas('石门村强揽工程线索')) && (await listHas('溪口村集体土地发包核查')) && (await listHas('塘头村干部违规吃请')));

  // The informant typed in the app was sealed on the tablet: nothing of it is in the
  // server's files; the supervisor's device, granted the district's key, reads it.
  await app.until('everything sent', async () =>
    (await app.attr('sync-status', 'data-state')) === 'synced' && (await app.attr('sync-status', 'data-pending')) === '0', 60_000);
  for (const needle of [INFORMANT, INFORMANT_PHONE]) {
    const found = spawnSync('grep', ['-r', '-l', '-a', '-F', '--', needle, server.data], { encoding: 'utf8' });
    assert.equal(found.status, 1, `${needle} found on the server: ${found.stdout}${found.stderr}`);
  }
  supervisor = cliDevice(dir, server, 'demo-supervisor', '演示审核人');
  server.admin(['protected-key', 'grant', '--key', path.join(dir, 'protected-data.key')]);
  supervisor.run(['sync']);
  const clue = JSON.parse(supervisor.run(['record', 'list', '--kind', 'gang_clue', '--json']))
    .find((r) => JSON.stringify(r).includes('石门村强揽工程线索'));
  assert.ok(clue, 'the supervisor received the gang clue');
  const informant = JSON.parse(supervisor.run(['record', 'informant', clue.record_id, '--json']));
  assert.equal(informant.name, INFORMANT);
  assert.equal(informant.contact, INFORMANT_PHONE);
});

test('the 副组长 returns a submitted record with a reason; the inspector sees the badge and the reason, completes it and submits again; it goes up to the office', async () => {
  // The 副组长's tablet (a CLI device) has the submitted asset check.
  deputy = cliDevice(dir, server, 'demo-deputy', '演示副组长');
  deputy.run(['sync']);
  const before = JSON.parse(deputy.run(['record', 'transitions', assetCheckId, '--json']));
  assert.equal(before.status, 'submitted');
  assert.deepEqual(before.next.filter((s) => s.allowed).map((s) => s.to).sort(), ['deputy_reviewed', 'returned']);
  // A return needs its reason.
  const bare = deputy.attempt(['record', 'transition', assetCheckId, '--to', 'returned']);
  assert.notEqual(bare.status, 0);
  const REASON = '请补充收回土地面积（亩）和发包合同';
  const returned = deputy.transition(assetCheckId, 'returned', ['--note', REASON]);
  assert.equal(returned.status, 'returned');
  assert.equal(returned.step.capacity, 'deputy');
  deputy.run(['sync']);

  // One sync later, the inspector's records tab and the row carry the news; the row says
  // 退回补充; the editor says why and who sent it back. Opening it clears the news.
  await app.click('tab-records');
  await app.until('nothing waiting to sync', async () =>
    (await app.attr('sync-status', 'data-state')) === 'synced' && (await app.attr('sync-status', 'data-pending')) === '0', 60_000);
  const lastSync = await app.attr('sync-status', 'data-last-synced');
  await app.click('sync-status');
  await app.until('one sync to end', async () =>
    (await app.attr('sync-status', 'data-last-synced')) !== lastSync && (await app.attr('sync-status', 'data-state')) === 'synced');
  await app.until('the news on the records tab', async () => (await app.attr('tab-records', 'data-news')) === '1', 5_000);
  assert.equal(await (await app.$('tab-records')).$('.van-badge').getText(), '1');
  const row = await rowOf(ASSET_TITLE);
  assert.equal(await row.getAttribute('data-news'), 'true');
  assert.equal(await row.$('[data-testid="badge-news"]').getText(), '新进展');
  assert.equal(await row.$('[data-testid="returned-badge"]').getText(), '退回补充');
  const others = await app.b.execute(() =>
    Array.from(document.querySelectorAll('[data-testid="record-row"][data-news="true"]')).length);
  assert.equal(others, 1, 'only the returned record is news');
  await app.shot('16a-news-badge');
  await row.click();
  await app.until('the asset check open', async () => (await app.attr('editor', 'data-record')) === assetCheckId);
  await app.until('the news seen', async () => (await app.attr('tab-records', 'data-news')) === '0');
  assert.equal(await (await app.$('tab-records')).$('.van-badge').isExisting(), false);
  // The row is redrawn when the list reloads, which may come a moment after the tab's count.
  await app.until('the row no longer news', async () => (await (await rowOf(ASSET_TITLE)).getAttribute('data-news')) === 'false', 5_000);
  await app.waitFor('returned-reason');
  const banner = await app.text('returned-reason');
  assert.match(banner, new RegExp(`退回理由：${REASON}`));
  assert.match(banner, /副组长/);
  assert.match(banner, /演示副组长|demo-deputy/);
  assert.equal(await app.text('review-status'), '退回补充');
  assert.equal(await app.attr('step-1', 'data-to'), 'returned');
  await (await app.$('returned-reason')).scrollIntoView({ block: 'center' });
  await app.shot('16a-returned');

  // Completed and submitted again: the badge and the banner go, the return is kept in the
  // trail (void: it covers the version before the fix).
  await app.type('input-land_recovered', '12.5');
  await saved();
  await app.waitFor('status-submitted');
  assert.equal(await app.text('status-submitted'), '补充后重新提交');
  await app.click('status-submitted');
  await app.until('submitted again', async () => (await app.text('review-status')) === '待审核');
  await app.until('the banner to go', async () => !(await app.$('returned-reason').isExisting()));
  assert.equal(await app.attr('step-1', 'data-void'), 'true');
  assert.equal(await app.attr('step-2', 'data-to'), 'submitted');
  assert.equal(await app.attr('step-2', 'data-void'), 'false');
  await app.until('the badge to leave the list', async () =>
    !(await (await rowOf(ASSET_TITLE)).$('[data-testid="returned-badge"]').isExisting()));
  await app.until('everything sent', async () =>
    (await app.attr('sync-status', 'data-state')) === 'synced' && (await app.attr('sync-status', 'data-pending')) === '0', 60_000);

  // Up the levels: the 副组长 reviews, the 组长 signs (approving is not his: exit 9), the
  // office approves with its conclusion.
  deputy.run(['sync']);
  const fixed = JSON.parse(deputy.run(['record', 'show', assetCheckId, '--json']));
  assert.match(JSON.stringify(fixed), /12\.5/);
  assert.equal(deputy.transition(assetCheckId, 'deputy_reviewed').status, 'deputy_reviewed');
  deputy.run(['sync']);
  lead ??= cliDevice(dir, server, 'demo-lead', '演示组长');
  lead.run(['sync']);
  const notHis = lead.attempt(['record', 'transition', assetCheckId, '--to', 'office_approved', '--conclusion', '属实']);
  assert.equal(notHis.status, 9, `${notHis.stdout}${notHis.stderr}`);
  assert.equal(lead.transition(assetCheckId, 'lead_signed').status, 'lead_signed');
  const early = lead.attempt(['record', 'transition', assetCheckId, '--to', 'office_approved', '--conclusion', '属实']);
  assert.equal(early.status, 9, `${early.stdout}${early.stderr}`);
  lead.run(['sync']);
  supervisor.run(['sync']);
  const approved = supervisor.transition(assetCheckId, 'office_approved', ['--conclusion', '部分属实', '--note', '面积以实测为准']);
  assert.equal(approved.status, 'office_approved');
  assert.equal(approved.conclusion, 'partly_confirmed');
  supervisor.run(['sync']);

  await syncUntil('the approval in the app', async () => (await app.text('review-status')) === '巡察办已审核');
  assert.match(await app.text('review-conclusion'), /部分属实/);
  const steps = await app.b.execute(() =>
    Array.from(document.querySelectorAll('[data-testid="steps"] > li')).map((li) => [li.dataset.to, li.dataset.void]));
  assert.deepEqual(steps, [
    ['submitted', 'true'], ['returned', 'true'], ['submitted', 'false'], ['deputy_reviewed', 'false'], ['lead_signed', 'false'],
    ['office_approved', 'false'],
  ]);
  assert.match(await app.text('step-4'), /组长/);
  assert.match(await app.text('step-5'), /面积以实测为准/);
  await (await app.$('steps')).scrollIntoView({ block: 'center' });
  await app.shot('16b-approved');
});

test('submitting an incomplete record scrolls to the first field to fix; a draft is withdrawn and leaves the list', async () => {
  await newRecord('作风问题', '南塘镇', '马岭村');
  // 提交审核 at the bottom of a record with problems: refused, and the editor scrolls up to
  // the first field to fix, puts the cursor there and marks every field to fix.
  await app.click('status-submitted');
  await app.until('the refusal', async () => (await app.attr('editor', 'data-attention')) === '1');
  const first = await app.until('the first field to fix in view', async () => app.b.execute(() => {
    const field = document.querySelector('[data-first="true"]');
    if (!field) return null;
    const box = field.getBoundingClientRect();
    const inView = box.top >= 0 && box.bottom <= window.innerHeight;
    const problems = Array.from(document.querySelectorAll('[data-testid="editor"] [data-testid^="problem-"]'));
    return inView ? {
      testid: field.getAttribute('data-testid'),
      isFirst: problems.length > 0 && field.contains(problems[0]),
      focused: field.contains(document.activeElement),
      marked: problems.length,
    } : null;
  }));
  assert.ok(first.isFirst, `the first problem is in ${first.testid}`);
  assert.ok(first.focused, 'the cursor is in the first field to fix');
  assert.ok(first.marked >= 1);
  assert.equal(await app.text('review-status'), '草稿');
  await app.shot('17a-submit-refused');
  await app.type('input-title', '误建的草稿');
  await saved();
  await app.until('the draft in the list', () => listHas('误建的草稿'));
  await app.click('withdraw');
  const confirm = await app.b.$('.van-dialog__confirm');
  await confirm.waitForDisplayed({ timeout: 10_000 });
  await sleep(500); // the dialog fades in
  await app.shot('17-withdraw-confirm');
  await app.clickSettled(confirm);
  await app.until('the draft to leave the list', async () => !(await listHas('误建的草稿')));
  assert.equal(await app.$('editor').isExisting(), false);
  assert.ok(await listHas(FUND_TITLE));
  await app.overlaysGone();
});

test("the server's address is changed in 我的; locked, the app still receives the 组长's edit", async () => {
  // The same server at another address (localhost instead of 127.0.0.1).
  const moved = server.url.replace('127.0.0.1', 'localhost');
  await app.click('tab-me');
  await app.click('me-server');
  await app.retype('me-server-input', moved);
  await app.until('the new address typed', async () => (await app.value('me-server-input')) === moved);
  await sleep(300);
  await app.shot('18-server-address');
  await app.clickSettled(await app.b.$('[data-testid="move-server"] .van-dialog__confirm'));
  await app.until('the new address', async () => (await app.text('me-server')).includes('localhost'));
  await app.until('synced at the new address', async () => (await app.attr('sync-status', 'data-state')) === 'synced');

  await app.click('lock-now');
  await app.waitFor('unlock-pin');
  // The 组长's tablet (a CLI device) edits the fund check while the app is locked.
  lead ??= cliDevice(dir, server, 'demo-lead', '演示组长');
  lead.run(['sync']);
  const changed = `${FUND_TITLE}（组长已复核）`;
  lead.run(['record', 'edit', fundCheckId, '--set', `title=${changed}`]);
  lead.run(['sync']);
  const sent = Date.now();
  await app.until('the locked app to sync the change down', async () =>
    Number(await app.attr('sync-status', 'data-last-synced')) > sent && Number(await app.attr('sync-status', 'data-down')) > 0, 60_000);
  await app.shot('19-locked-synced');
  // With the server gone, only what arrived while locked can show after unlocking.
  await server.stop();
  try {
    await app.type('unlock-pin', PIN);
    await app.click('unlock-submit');
    await app.waitFor('record-list');
    await app.until('the 组长 edit in the list', () => listHas('（组长已复核）'));
    await app.shot('20-arrived-while-locked');
  } finally {
    await server.start();
  }
});
