// Cold start to an interactive record list with 10,000 records on the device, and the
// app's resident memory. The device database is made by the real CLI (enrolled with a
// real server on loopback, the demo district plus generated records); the real app is
// started through tauri-driver under Xvfb, as the end-to-end tests do.
//
//   npm --prefix e2e run bench          (make bench-app builds the release binaries first)
//   XUNCHA_BENCH_RECORDS=10000 XUNCHA_BENCH_RUNS=5
//
// Each cold start is made twice, as shipped and with --gpu (WebKitGTK's own default of
// drawing through OpenGL), side by side, with the ratio.
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import {
  startDisplay, startDriver, startServer, openApp, preparedAppDir, tempDir, appPid, cleanup, stopAll, cli, APP, PIN, GL_DRIVER,
} from '../lib/harness.mjs';
import { cameraJpeg } from '../lib/camera.mjs';

const RECORDS = Number(process.env.XUNCHA_BENCH_RECORDS ?? 10_000);
const RUNS = Number(process.env.XUNCHA_BENCH_RUNS ?? 5);
const DEMO_RECORDS = 98;

/** A process's resident memory in KiB from /proc: the whole (VmRSS), what is its own
 * (RssAnon), mapped from files (RssFile, mostly libraries shared with other processes) and
 * shared memory (RssShmem), its proportional share (Pss), and the part that is the OpenGL
 * driver (Mesa's libraries and its LLVM). Zeros when the process is gone. */
function memory(pid) {
  const zero = { rss: 0, anon: 0, file: 0, shmem: 0, pss: 0, gl: 0 };
  if (!pid) return zero;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name) => Number(status.match(new RegExp(`^${name}:\\s+(\\d+)`, 'm'))?.[1] ?? 0);
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const pss = Number(rollup.match(/^Pss:\s+(\d+)/m)?.[1] ?? 0);
    let gl = 0;
    let mapping = '';
    for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
      if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) mapping = line;
      else if (line.startsWith('Rss:') && GL_DRIVER.test(mapping)) gl += Number(line.split(/\s+/)[1]);
    }
    return { rss: field('VmRSS'), anon: field('RssAnon'), file: field('RssFile'), shmem: field('RssShmem'), pss, gl };
  } catch {
    return zero;
  }
}

const sum = (list) => list.reduce((a, m) => ({ rss: a.rss + m.rss, anon: a.anon + m.anon, file: a.file + m.file, shmem: a.shmem + m.shmem, pss: a.pss + m.pss, gl: a.gl + m.gl }), memory(null));

/** The pids of a process's descendants (WebKit's web and network processes). */
function descendants(pid) {
  const out = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).stdout.trim();
  const children = out ? out.split('\n').map(Number) : [];
  return children.flatMap((c) => [c, ...descendants(c)]);
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

const dir = tempDir('xuncha-bench-');
try {
  await startDisplay();
  const driver = await startDriver();
  const server = await startServer(dir);
  const appDir = preparedAppDir(dir, server, 'bench', '基准测试员', 'inspector');
  const db = path.join(appDir, 'device.db');
  const made = Date.now();
  cli(['--db', db, 'demo', '--extra', String(Math.max(0, RECORDS - DEMO_RECORDS))]);
  const count = JSON.parse(cli(['--db', db, '--json', 'totals'])).records;
  console.log(`device database: ${count} records, made in ${((Date.now() - made) / 1000).toFixed(1)} s; app: ${APP}`);
  await server.stop(); // offline, as in a village: the app must not wait for the network
  // Every start finds the device as it was made (a start adds photos to it).
  const pristine = path.join(dir, 'pristine');
  cpSync(appDir, pristine, { recursive: true });
  // Three 24-megapixel camera photos (10 MB each), each with its own time and place in
  // its EXIF.
  const photos = [1, 2, 3].map((n) => {
    const file = path.join(dir, `camera-${n}.jpg`);
    writeFileSync(file, cameraJpeg(6000, 4000, { taken: `2026:11:30 14:0${n}:09`, gps: [29.8683, 121.544] }));
    return file;
  });

  // Each run starts the app as shipped (software drawing) and, as the baseline, with the
  // graphics path WebKitGTK takes by default (--gpu: accelerated compositing, GTK's OpenGL).
  const MODES = [
    { key: 'shipped', label: 'as shipped (software drawing)', args: [] },
    { key: 'gpu', label: 'baseline: --gpu (WebKit compositing, OpenGL)', args: ['--gpu'] },
  ];
  const rows = { shipped: [], gpu: [] };
  for (let run = 1; run <= RUNS; run++) {
    for (const mode of MODES) {
      rmSync(appDir, { recursive: true, force: true });
      cpSync(pristine, appDir, { recursive: true });
      const t0 = performance.now();
      const app = await openApp(driver, appDir, mode.args);
      await app.waitFor('unlock-pin', 60_000);
      const tPin = performance.now();
      const lockedPid = appPid(appDir);
      const locked = memory(lockedPid);
      const lockedWebkit = lockedPid ? sum(descendants(lockedPid).map(memory)) : memory(null);
      await app.type('unlock-pin', PIN);
      const tTyped = performance.now();
      await app.click('unlock-submit');
      await app.waitFor('record-row', 60_000);
      const tList = performance.now();
      // Interactive: the first row opens in the editor.
      await app.click('record-row');
      await app.waitFor('editor', 60_000);
      const tOpen = performance.now();
      const pid = appPid(appDir);
      const own = memory(pid);
      const webkit = pid ? sum(descendants(pid).map(memory)) : memory(null);
      // Then three 24-megapixel camera photos into that record, one after the other,
      // watermarked (the default): the app decodes each, draws the watermark with the report
      // fonts and stores it at 2,560 px. The memory after the first and after the third.
      const picker = await app.$('attach-input');
      await picker.waitForExist({ timeout: 10_000, timeoutMsg: 'the first record takes no photos' });
      const photoed = [];
      let tPhoto = 0;
      for (const file of photos) {
        const tiles = (await app.b.$$('[data-testid="attachment"]')).length;
        const tPick = performance.now();
        await picker.setValue(file);
        await app.until('the photo stored', async () => (await app.b.$$('[data-testid="attachment"]')).length > tiles, 60_000);
        if (photoed.length === 0) tPhoto = performance.now() - tPick;
        photoed.push(memory(pid));
      }
      rows[mode.key].push({
        launchToPin: tPin - t0,
        unlockToList: tList - tTyped,
        coldTotal: tPin - t0 + (tList - tTyped),
        openFirst: tOpen - tList,
        app: own,
        webkit,
        lockedApp: locked,
        lockedWebkit,
        photo: tPhoto,
        photoApp: photoed[0],
        photosApp: photoed[photoed.length - 1],
      });
      console.log(
        `run ${run}, ${mode.key}: launch→PIN screen ${(tPin - t0).toFixed(0)} ms, PIN→list ${(tList - tTyped).toFixed(0)} ms, ` +
          `first record ${(tOpen - tList).toFixed(0)} ms; RSS app ${(own.rss / 1024).toFixed(1)} MiB ` +
          `(own ${(own.anon / 1024).toFixed(1)}, files ${(own.file / 1024).toFixed(1)}, OpenGL ${(own.gl / 1024).toFixed(1)}) ` +
          `+ WebKit ${(webkit.rss / 1024).toFixed(1)} MiB; photo ${tPhoto.toFixed(0)} ms, app after each photo ${photoed.map((m) => (m.rss / 1024).toFixed(1)).join(', ')} MiB`,
      );
      await app.close();
    }
  }
  const med = (key, pick) => median(rows[key].map(pick));
  const ms = (pick) => (key) => `${med(key, pick).toFixed(0)} ms`;
  const mib = (pick) => (key) => `${(med(key, pick) / 1024).toFixed(1)} MiB`;
  const lines = [
    ['launch to PIN screen', ms((r) => r.launchToPin)],
    ['PIN entered to record list shown (Argon2id 64 MiB, open, first page)', ms((r) => r.unlockToList)],
    ['cold start to interactive list (both, without the person typing)', ms((r) => r.coldTotal)],
    ['tap on the first record to its editor', ms((r) => r.openFirst)],
    ['app process, resident (VmRSS)', mib((r) => r.app.rss)],
    ['  its own memory (RssAnon)', mib((r) => r.app.anon)],
    ['  mapped from files (RssFile; libraries, mostly shared)', mib((r) => r.app.file)],
    ['  of which the OpenGL driver (Mesa, LLVM)', mib((r) => r.app.gl)],
    ['  proportional share (Pss)', mib((r) => r.app.pss)],
    ['WebKit web and network processes, resident', mib((r) => r.webkit.rss)],
    ['  their own memory (RssAnon)', mib((r) => r.webkit.anon)],
    ['  shared memory (RssShmem)', mib((r) => r.webkit.shmem)],
    ['  of which the OpenGL driver', mib((r) => r.webkit.gl)],
    ['resident, total', mib((r) => r.app.rss + r.webkit.rss)],
    ['a 6000×4000 photo taken, watermarked and stored', ms((r) => r.photo)],
    ['app process, resident, after that photo', mib((r) => r.photoApp.rss)],
    ['app process, resident, after two more', mib((r) => r.photosApp.rss)],
    ['at the PIN screen (no database open): app', mib((r) => r.lockedApp.rss)],
    ['at the PIN screen: WebKit', mib((r) => r.lockedWebkit.rss)],
  ];
  const ratio = (pick) => med('shipped', pick) / med('gpu', pick);
  console.log('');
  console.log(`| ${count} records, median of ${RUNS} cold starts each way | ${MODES[0].label} | ${MODES[1].label} |`);
  console.log('|---|---|---|');
  for (const [name, cell] of lines) console.log(`| ${name} | ${cell('shipped')} | ${cell('gpu')} |`);
  console.log('');
  console.log(
    `as shipped / baseline: cold start ${ratio((r) => r.coldTotal).toFixed(2)}, app RSS ${ratio((r) => r.app.rss).toFixed(2)}, ` +
      `WebKit RSS ${ratio((r) => r.webkit.rss).toFixed(2)}, total ${ratio((r) => r.app.rss + r.webkit.rss).toFixed(2)}`,
  );
} finally {
  stopAll();
  cleanup(dir);
}
