// Cold start to an interactive record list with 10,000 records on the device, and the
// app's resident memory. The device database is made by the real CLI (enrolled with a
// real server on loopback, the demo district plus generated records); the real app is
// started through tauri-driver under Xvfb, as the end-to-end tests do.
//
//   npm --prefix e2e run bench          (make bench-app builds the release binaries first)
//   XUNCHA_BENCH_RECORDS=10000 XUNCHA_BENCH_RUNS=5
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import {
  startDisplay, startDriver, startServer, openApp, preparedAppDir, tempDir, appPid, cleanup, stopAll, cli, APP, PIN,
} from '../lib/harness.mjs';

const RECORDS = Number(process.env.XUNCHA_BENCH_RECORDS ?? 10_000);
const RUNS = Number(process.env.XUNCHA_BENCH_RUNS ?? 5);
const DEMO_RECORDS = 98;

function rssKiB(pid) {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
    return line ? Number(line.split(/\s+/)[1]) : 0;
  } catch {
    return 0;
  }
}

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

  const rows = [];
  for (let run = 1; run <= RUNS; run++) {
    const t0 = performance.now();
    const app = await openApp(driver, appDir);
    await app.waitFor('unlock-pin', 60_000);
    const tPin = performance.now();
    const lockedPid = appPid(appDir);
    const lockedRss = lockedPid ? rssKiB(lockedPid) : 0;
    const lockedWebkit = lockedPid ? descendants(lockedPid).reduce((sum, p) => sum + rssKiB(p), 0) : 0;
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
    const appRss = pid ? rssKiB(pid) : 0;
    const webkitRss = pid ? descendants(pid).reduce((sum, p) => sum + rssKiB(p), 0) : 0;
    rows.push({
      launchToPin: tPin - t0,
      unlockToList: tList - tTyped,
      coldTotal: tPin - t0 + (tList - tTyped),
      openFirst: tOpen - tList,
      appRssMiB: appRss / 1024,
      lockedAppRssMiB: lockedRss / 1024,
      lockedWebkitRssMiB: lockedWebkit / 1024,
      webkitRssMiB: webkitRss / 1024,
    });
    console.log(
      `run ${run}: launch→PIN screen ${(tPin - t0).toFixed(0)} ms, PIN→list ${(tList - tTyped).toFixed(0)} ms, ` +
        `first record ${(tOpen - tList).toFixed(0)} ms; RSS app ${(appRss / 1024).toFixed(1)} MiB + WebKit ${(webkitRss / 1024).toFixed(1)} MiB`,
    );
    await app.close();
  }
  const m = (k) => median(rows.map((r) => r[k]));
  console.log('');
  console.log(`| ${count} records, median of ${RUNS} cold starts | value |`);
  console.log('|---|---|');
  console.log(`| launch to PIN screen | ${m('launchToPin').toFixed(0)} ms |`);
  console.log(`| PIN entered to record list shown (Argon2id 64 MiB, open, first page) | ${m('unlockToList').toFixed(0)} ms |`);
  console.log(`| cold start to interactive list (both, without the person typing) | ${m('coldTotal').toFixed(0)} ms |`);
  console.log(`| tap on the first record to its editor | ${m('openFirst').toFixed(0)} ms |`);
  console.log(`| resident memory, app process (Rust, SQLite, GTK) | ${m('appRssMiB').toFixed(1)} MiB |`);
  console.log(`| resident memory, WebKit web and network processes | ${m('webkitRssMiB').toFixed(1)} MiB |`);
  console.log(`| resident memory, total | ${(m('appRssMiB') + m('webkitRssMiB')).toFixed(1)} MiB |`);
  console.log(`| for comparison, at the PIN screen (no database open): app, WebKit | ${m('lockedAppRssMiB').toFixed(1)} MiB, ${m('lockedWebkitRssMiB').toFixed(1)} MiB |`);
} finally {
  stopAll();
  cleanup(dir);
}
