// End to end, 签字: on a server set up with `xuncha admin demo`, the demo inspector records a
// 谈话记录 in the app (the person talked with, the date, who talked and who wrote it down,
// one question and its answer), has the person talked with sign it on the pad (drawn with
// the WebDriver's pointer, a few strokes across the canvas), and the signature shows with
// its picture; after sync the office's CLI device sees it in `xuncha record show`.
// Screenshots 21–23 follow the round's.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startDisplay, startDriver, startServer, openApp, cliDevice, enrolledAppDir, tempDir, cleanup, stopAll, sleep, PIN,
} from '../lib/harness.mjs';

let dir, driver, server, app, talkId;
const TITLE = '与石门村村委委员李四的个别谈话';
const INTERVIEWEE = '李四';

before(async () => {
  dir = tempDir();
  await startDisplay();
  driver = await startDriver();
  server = await startServer(dir);
  server.admin(['demo']);
  // The demo inspector's tablet, enrolled by the CLI: the app opens at its PIN.
  app = await openApp(driver, enrolledAppDir(dir, server, 'demo-inspector', '演示巡察员'));
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

/** Draws on the pad with the mouse: strokes of points given as fractions of the canvas. */
async function draw(strokes) {
  const canvas = await app.$('signature-pad');
  await canvas.scrollIntoView({ block: 'center' });
  const { width, height } = await canvas.getSize();
  // Offsets from the element's centre (WebDriver's element origin).
  const at = ([fx, fy]) => ({ origin: canvas, x: Math.round((fx - 0.5) * width), y: Math.round((fy - 0.5) * height) });
  for (const stroke of strokes) {
    const [first, ...rest] = stroke;
    let action = app.b.action('pointer', { parameters: { pointerType: 'mouse' } }).move({ ...at(first), duration: 0 }).down({ button: 0 });
    for (const p of rest) action = action.move({ ...at(p), duration: 60 });
    await action.up({ button: 0 }).perform();
  }
}

test('the person talked with signs the talk record on the pad, and the office sees the signature', async () => {
  await app.type('unlock-pin', PIN);
  await app.click('unlock-submit');
  await app.waitFor('record-list');
  // The round's places and team arrive with the first sync.
  await app.until('the places of the round', async () => (await app.attr('new-record', 'data-places')) === 'true', 60_000);

  await app.click('new-record');
  await app.clickSettled(await app.b.$('//button[contains(@class,"van-action-sheet__item") and contains(., "谈话记录")]'));
  await app.shown('new-record-sheet');
  await app.selectText('new-township', '东岭镇');
  await app.selectText('new-village', '石门村');
  await app.clickSettled(await app.$('new-create'));
  await app.gone('new-record-sheet');
  await app.waitFor('editor');
  talkId = await app.attr('editor', 'data-record');
  await app.until('the round and team to be filled in', async () =>
    (await app.value('input-round')) === '2024年第一轮' && (await app.value('input-team')) === '第一巡察组');

  await app.type('input-title', TITLE);
  await app.type('input-interviewee', INTERVIEWEE);
  await app.type('input-interviewee_post', '村委委员');
  await app.type('input-talk_date', '2024-05-20');
  await app.type('input-interviewers', '演示巡察员、演示副组长');
  await app.type('input-recorder', '演示巡察员');
  await app.click('add-turns');
  await app.type('input-turns-0-question', '村里的到户补贴是怎么发放的？');
  await app.type('input-turns-0-answer', '由村委会统一代领后再发给各户。');
  await saved();

  // 签字: the person talked with, first among the roles, named as the record names them.
  await app.click('sign-button');
  await app.shown('sign-popup');
  assert.equal(await app.attr('sign-role-interviewee', 'data-selected'), 'true');
  await app.click('sign-role-interviewee');
  await app.replace('sign-signer', INTERVIEWEE);
  await app.until('the signer named on the pad', async () => (await app.text('signature-signer')).includes(INTERVIEWEE));
  assert.equal(await app.attr('signature-confirm', 'disabled'), 'true');
  await draw([
    [[0.15, 0.6], [0.2, 0.35], [0.25, 0.65], [0.3, 0.4]],
    [[0.38, 0.3], [0.42, 0.7], [0.5, 0.5], [0.55, 0.62]],
    [[0.62, 0.55], [0.7, 0.45], [0.8, 0.6], [0.88, 0.5]],
  ]);
  await app.until('the strokes to enable 确认签名', async () => (await app.attr('signature-confirm', 'disabled')) === null);
  await app.shot('21-signature-pad');
  await app.click('signature-confirm');
  await app.gone('sign-popup');

  const signature = await app.waitFor('signature-0');
  await signature.scrollIntoView({ block: 'center' });
  assert.equal(await app.attr('signature-0', 'data-void'), 'false');
  assert.equal(await app.attr('signature-0', 'data-role'), 'interviewee');
  const text = await app.text('signature-0');
  assert.match(text, new RegExp(INTERVIEWEE));
  assert.match(text, /被谈话人/);
  await app.until('the signature picture', async () =>
    app.b.execute(() => {
      const img = document.querySelector('[data-testid="signature-0"] img');
      return Boolean(img && img.complete && img.naturalWidth > 0);
    }));
  await app.shot('22-signed');

  // Sent, and the office's device (the CLI) sees the signature.
  await app.until('everything sent', async () =>
    (await app.attr('sync-status', 'data-state')) === 'synced' && (await app.attr('sync-status', 'data-pending')) === '0', 60_000);
  const supervisor = cliDevice(dir, server, 'demo-supervisor', '演示审核人');
  supervisor.run(['sync']);
  const shown = JSON.parse(supervisor.run(['record', 'show', talkId, '--json']));
  const record = shown.record ?? shown;
  assert.equal(record.signatures.length, 1, JSON.stringify(record.signatures));
  const [s] = record.signatures;
  assert.equal(s.signer, INTERVIEWEE);
  assert.equal(s.role, 'interviewee');
  assert.equal(s.by, 'demo-inspector');
  assert.equal(s.void, false);
  assert.equal(s.image.mime, 'image/png');
  assert.ok(s.strokes.length > 10, 'the strokes travel with the picture');
  const plain = supervisor.run(['record', 'show', talkId]);
  assert.match(plain, new RegExp(`签字 signed: ${INTERVIEWEE}（被谈话人）`));

  // A later change of the talk visibly voids the signature (it covers the older version).
  await app.replace('input-turns-0-answer', '由村委会统一代领，部分未发放。');
  await saved();
  await app.until('the signature to be marked void', async () => (await app.attr('signature-0', 'data-void')) === 'true');
  assert.match(await app.text('signature-0'), /签字后记录已修改/);
  await (await app.$('signature-0')).scrollIntoView({ block: 'center' });
  await sleep(200);
  await app.shot('23-signature-void');
});
