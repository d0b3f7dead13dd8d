// The end-to-end harness: Xvfb, tauri-driver (over WebKitWebDriver), a real Xuncha
// server on loopback started from the real CLI binary, and the real app binary.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, existsSync, rmSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { remote } from 'webdriverio';
import { auditScreen } from './audit.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '../..');
const TARGET = process.env.CARGO_TARGET_DIR ?? path.join(ROOT, 'target');
export const APP = process.env.XUNCHA_APP_BIN ?? path.join(TARGET, 'debug/xuncha-app');
export const CLI = process.env.XUNCHA_CLI_BIN ?? path.join(TARGET, 'debug/xuncha');
export const SHOTS = process.env.XUNCHA_SHOTS ?? path.join(TARGET, 'e2e/screenshots');
export const PIN = '246810';

const children = new Set();
function track(child) {
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}
export function stopAll() {
  // Each child leads its own process group (tauri-driver's WebKitWebDriver, the app);
  // Xvfb is asked to stop (it removes its lock files); the rest are killed.
  for (const child of children) {
    try {
      process.kill(-child.pid, child.gentle ? 'SIGTERM' : 'SIGKILL');
    } catch {
      child.kill(child.gentle ? 'SIGTERM' : 'SIGKILL');
    }
  }
}
process.on('exit', stopAll);

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

async function waitForPort(port, what, ms = 20_000) {
  const start = Date.now();
  for (;;) {
    const ok = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.end();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() - start > ms) throw new Error(`${what} did not listen on 127.0.0.1:${port}`);
    await sleep(100);
  }
}

/** A virtual display, unless one is given. Xvfb picks a free display number itself and
 * writes it to a pipe (-displayfd), so stale lock files of killed servers do not matter. */
export async function startDisplay() {
  if (process.env.DISPLAY) return process.env.DISPLAY;
  const xvfb = spawn('Xvfb', ['-displayfd', '3', '-screen', '0', '1280x1280x24', '-nolisten', 'tcp'], {
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
    detached: true,
  });
  xvfb.gentle = true;
  track(xvfb);
  let stderr = '';
  xvfb.stderr.on('data', (d) => (stderr += d));
  const number = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`Xvfb did not start: ${stderr}`)), 15_000);
    xvfb.stdio[3].on('data', (d) => {
      out += d;
      if (out.includes('\n')) {
        clearTimeout(timer);
        resolve(out.trim());
      }
    });
    xvfb.on('exit', (code) => reject(new Error(`Xvfb exited (${code}): ${stderr}`)));
  });
  process.env.DISPLAY = `:${number}`;
  return process.env.DISPLAY;
}

/** tauri-driver, which starts WebKitWebDriver, which starts the app. */
export async function startDriver() {
  const port = await freePort();
  const nativePort = await freePort();
  const bin = process.env.TAURI_DRIVER ?? path.join(process.env.HOME ?? '/root', '.cargo/bin/tauri-driver');
  mkdirSync(path.dirname(SHOTS), { recursive: true });
  const log = openSync(path.join(path.dirname(SHOTS), 'tauri-driver.log'), 'a');
  // The web view's own storage (the display setting, the language) starts empty for each
  // test file, as on a new tablet: WebKit keeps it under XDG_DATA_HOME.
  const webData = mkdtempSync(path.join(tmpdir(), 'xuncha-e2e-webview-'));
  const env = { ...process.env, XDG_DATA_HOME: webData };
  track(spawn(bin, ['--port', String(port), '--native-port', String(nativePort)], { stdio: ['ignore', log, log], detached: true, env }));
  await waitForPort(port, 'tauri-driver');
  return port;
}

/** Runs the CLI; returns its standard output. */
export function cli(args, env = {}) {
  return execFileSync(CLI, args, { env: { ...process.env, XUNCHA_PIN: PIN, ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/** A real server with its own data folder on a loopback port; can be stopped and started again. */
export async function startServer(dir) {
  const data = path.join(dir, 'server');
  const port = await freePort();
  const env = { XUNCHA_SERVER_DATA: data };
  let child = null;
  const server = {
    url: `http://127.0.0.1:${port}`,
    /** The server's data folder (server.db, its WAL, keys). */
    data,
    addUser(id, name, role) {
      cli(['admin', 'add-user', id, '--name', name, '--role', role, '--jurisdiction', 'district'], env);
    },
    enrollCode(user) {
      return cli(['admin', 'enroll', user], env);
    },
    /** Any `xuncha admin …` command on the server's data (demo, divisions, round, team, roster). */
    admin(args) {
      return cli(['admin', ...args], env);
    },
    /** The small round the document and bundle tests share: 清河区, 东岭镇 and its 上坪村, and the
     * round `round` (March to December 2024). */
    setUpRound(round) {
      const csv = path.join(dir, 'divisions.csv');
      writeFileSync(csv, 'code,name,parent_code\n330199000000,清河区,\n330199101000,东岭镇,330199000000\n330199101001,上坪村,330199101000\n');
      cli(['admin', 'divisions', 'import', csv], env);
      cli(['admin', 'round', 'add', '--name', round, '--start', '2024-03-01', '--end', '2024-12-31'], env);
    },
    /** An enrollment QR code for `user`, written as a PNG to `png` (what the administrator prints). */
    enrollQr(user, png) {
      cli(['admin', 'enroll', user, '--qr', '--server', this.url, '--qr-png', png, '--json'], env);
      return png;
    },
    async start() {
      child = track(spawn(CLI, ['server', '--listen', `127.0.0.1:${port}`], { env: { ...process.env, ...env }, stdio: 'ignore', detached: true }));
      await waitForPort(port, 'the Xuncha server');
    },
    async stop() {
      if (!child) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      child = null;
    },
  };
  await server.start();
  return server;
}

/** A CLI device (a second tablet) enrolled with `server` as `user` (added first, unless no
 * role is given: a user the server already has, such as the demo round's). */
export function cliDevice(dir, server, user, name, role) {
  const db = path.join(dir, `${user}.db`);
  if (role) server.addUser(user, name, role);
  cli(['--db', db, 'init', '--user', user, '--name', name, '--device', `${user}-cli`]);
  cli(['--db', db, 'enroll', '--server', server.url, '--code', server.enrollCode(user), '--name', `${name}的设备`]);
  return {
    db,
    run: (args) => cli(['--db', db, ...args]),
    /** Runs a command that may fail: its exit status and what it printed. */
    attempt: (args) => {
      const out = spawnSync(CLI, ['--db', db, ...args], { env: { ...process.env, XUNCHA_PIN: PIN }, encoding: 'utf8' });
      return { status: out.status, stdout: out.stdout.trim(), stderr: out.stderr.trim() };
    },
    /** Takes record `id` one workflow step (`xuncha record transition`); returns the JSON it prints. */
    transition: (id, to, extra = []) => JSON.parse(cli(['--db', db, 'record', 'transition', id, '--to', to, ...extra, '--json'])),
  };
}

/** An app data folder prepared by the CLI: enrolled, locked by PIN. */
export function preparedAppDir(dir, server, user, name, role) {
  const appDir = path.join(dir, `app-${user}`);
  mkdirSync(appDir, { recursive: true });
  const db = path.join(appDir, 'device.db');
  server.addUser(user, name, role);
  cli(['--db', db, 'init', '--user', user, '--name', name, '--device', `${user}-app`]);
  cli(['--db', db, 'enroll', '--server', server.url, '--code', server.enrollCode(user), '--name', `${name}的电脑`]);
  return appDir;
}

/** An app data folder enrolled by the CLI as `user`, a user the server already has (the
 * demo district's): the app opens at its PIN. */
export function enrolledAppDir(dir, server, user, name) {
  const appDir = path.join(dir, `app-${user}`);
  mkdirSync(appDir, { recursive: true });
  const db = path.join(appDir, 'device.db');
  cli(['--db', db, 'init', '--user', user, '--name', name, '--device', `${user}-app`]);
  cli(['--db', db, 'enroll', '--server', server.url, '--code', server.enrollCode(user), '--name', `${name}的平板`]);
  return appDir;
}

/** Answers the system's Save or Open dialog (`kind`: 'save' or 'open'), which WebDriver cannot
 * reach, as the user would: with `chosen` (a path), or by cancelling it (null). The dialog's
 * request (which travels like every IPC call, as a fetch of the ipc: protocol) is answered in
 * the page, and what it asked is kept in `window.__dialogAsked`; every other call reaches the
 * app. */
export async function answerDialog(app, kind, chosen) {
  await app.b.execute((command, answer) => {
    window.__dialogAsked = [];
    window.__dialogCommand = command;
    window.__dialogAnswer = answer;
    if (window.__realFetch) return;
    window.__realFetch = window.fetch;
    window.fetch = (url, init) => {
      if (String(url).includes(encodeURIComponent(window.__dialogCommand))) {
        window.__dialogAsked.push(JSON.parse(init.body).options);
        const headers = { 'Tauri-Response': 'ok', 'content-type': 'application/json' };
        return Promise.resolve(new Response(JSON.stringify(window.__dialogAnswer), { headers }));
      }
      return window.__realFetch(url, init);
    };
  }, `plugin:dialog|${kind}`, chosen);
}

/** A fresh temporary folder. */
export function tempDir(prefix = 'xuncha-e2e-') {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

/** Opens the real app on `dataDir` through WebDriver (`args`: more of its command line,
 * such as `--export-dir DIR`: exports are written straight into DIR, where the system's
 * Save dialog, which WebDriver cannot answer, would ask the user otherwise). */
export async function openApp(driverPort, dataDir, args = []) {
  const browser = await remote({
    hostname: '127.0.0.1',
    port: driverPort,
    logLevel: 'error',
    connectionRetryCount: 1,
    connectionRetryTimeout: 90_000,
    capabilities: {
      'wdio:enforceWebDriverClassic': true,
      // The app syncs every 3 s when idle (20 s in the product): the tests wait for other
      // devices' edits to arrive, and nothing here depends on the interval.
      'tauri:options': { application: APP, args: ['--data-dir', dataDir, '--sync-every', '3', ...args] },
    },
  });
  const app = new AppDriver(browser, dataDir);
  await app.waitFor('body');
  return app;
}

/** The app process for a data folder (to kill it as a flat battery would). */
export function appPid(dataDir) {
  const out = spawnSync('pgrep', ["-f", `xuncha-app.*--data-dir ${dataDir}`], { encoding: 'utf8' }).stdout.trim();
  return out ? Number(out.split('\n')[0]) : null;
}

/** The OpenGL driver's libraries a process has mapped (Mesa's drivers and its LLVM). */
export const GL_DRIVER = /libLLVM|\/dri\/|libGLX_mesa|libgallium|libEGL_mesa|libglapi/;

/** The files a process has mapped that are part of the OpenGL driver (`GL_DRIVER`). */
export function glDriverMapped(pid) {
  const files = readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n').map((line) => line.split(/\s+/)[5] ?? '');
  return [...new Set(files.filter((file) => GL_DRIVER.test(file)))];
}

/** The number of distinct colours on the X display now, as drawn on it (`xwd` of the root
 * window, not WebDriver's picture of the page, which WebKit draws for it apart from the
 * window): a window that shows its page has hundreds (text is smoothed), a blank one a few. */
export function screenColours() {
  const xwd = execFileSync('xwd', ['-root', '-silent'], { maxBuffer: 64 << 20 });
  const field = (i) => xwd.readUInt32BE(i * 4);
  const [headerSize, width, height, bitsPerPixel, bytesPerLine, colourEntries] = [field(0), field(4), field(5), field(11), field(12), field(19)];
  if (bitsPerPixel !== 32) throw new Error(`xwd: ${bitsPerPixel} bits per pixel, expected 32`);
  const pixels = headerSize + colourEntries * 12;
  const colours = new Set();
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) colours.add(xwd.readUInt32LE(pixels + y * bytesPerLine + x * 4) & 0xffffff);
  }
  return colours.size;
}

export class AppDriver {
  constructor(browser, dataDir) {
    this.b = browser;
    this.dataDir = dataDir;
  }
  $(testid) {
    return this.b.$(`[data-testid="${testid}"]`);
  }
  async waitFor(selector, timeout = 20_000) {
    const el = selector.startsWith('[') || selector.startsWith('/') || selector === 'body' ? this.b.$(selector) : this.$(selector);
    await el.waitForExist({ timeout, timeoutMsg: `${selector} did not appear` });
    return el;
  }
  /** Clicks an element once it has stopped moving (sheets and popups slide in). */
  async clickSettled(el) {
    await el.waitForClickable({ timeout: 10_000 });
    let last = '';
    for (let i = 0; i < 30; i++) {
      const where = JSON.stringify(await el.getLocation());
      if (where === last) break;
      last = where;
      await sleep(100);
    }
    await this.tap(el);
  }
  async click(testid) {
    await this.tap(await this.waitFor(testid), true);
  }
  /**
   * Taps an element. A tap that lands on a dialog's overlay still fading out (or on a
   * sheet still sliding away) is tried again once the overlays are gone, as a person
   * would tap again; anything still covering the element after 10 s fails the test.
   */
  async tap(el, scroll = false) {
    const until = Date.now() + 10_000;
    for (;;) {
      if (scroll) await el.scrollIntoView({ block: 'center' });
      try {
        await el.click();
        return;
      } catch (error) {
        if (!/click intercepted/.test(String(error?.message)) || Date.now() > until) throw error;
      }
      await this.overlaysGone(Math.max(until - Date.now(), 500)).catch(() => {});
      await sleep(150);
    }
  }
  /** Waits until no overlay (of a dialog, popup or sheet) is shown. */
  async overlaysGone(timeout = 10_000) {
    await this.until('overlays to fade', async () => {
      for (const overlay of await this.b.$$('.van-overlay')) if (await overlay.isDisplayed()) return false;
      return true;
    }, timeout);
  }
  /** Types into an input (a van-field wraps its input). */
  async type(testid, text) {
    const host = await this.waitFor(testid);
    const tag = await host.getTagName();
    const input = tag === 'input' || tag === 'textarea' ? host : await host.$('input, textarea');
    await input.scrollIntoView({ block: 'center' });
    await input.click();
    if (text) await input.addValue(text);
    return input;
  }
  /** Replaces what an input holds: cleared, then typed key by key. */
  async replace(testid, text) {
    const input = await this.type(testid, '');
    await input.clearValue();
    await input.addValue(text);
    return input;
  }
  /** Types over what an input holds (selected first, as a person would), keystroke by keystroke. */
  async retype(testid, text) {
    const input = await this.type(testid, '');
    await this.b.execute((el) => el.select(), input);
    await input.addValue(text);
    return input;
  }
  /** Waits until a popup or sheet is shown and has stopped moving. */
  async shown(testid, timeout = 10_000) {
    const el = await this.waitFor(testid, timeout);
    await el.waitForDisplayed({ timeout });
    let last = '';
    for (let i = 0; i < 30; i++) {
      const where = JSON.stringify(await el.getLocation());
      if (where === last) break;
      last = where;
      await sleep(100);
    }
    return el;
  }
  /** Waits until a popup or sheet has slid away (so that it covers nothing). */
  async gone(testid, timeout = 10_000) {
    await this.until(`${testid} to close`, async () => {
      const el = await this.$(testid);
      return !(await el.isExisting()) || !(await el.isDisplayed());
    }, timeout);
    await this.overlaysGone(timeout);
  }
  async select(testid, value) {
    const el = await this.waitFor(testid);
    await el.scrollIntoView({ block: 'center' });
    await el.selectByAttribute('value', value);
  }
  /** Picks the option of a <select> by the text it shows (a name, never a code). */
  async selectText(testid, text) {
    const el = await this.waitFor(testid);
    await el.scrollIntoView({ block: 'center' });
    await this.until(`“${text}” among the choices of ${testid}`, async () => {
      const options = await this.b.execute((id) => Array.from(document.querySelectorAll(`[data-testid="${id}"] option`)).map((o) => o.textContent.trim()), testid);
      return options.includes(text);
    });
    await el.selectByVisibleText(text);
  }
  /** The value of an input (or of the input inside a van-field). */
  async value(testid) {
    return this.b.execute((id) => {
      const host = document.querySelector(`[data-testid="${id}"]`);
      const input = host && (host.matches('input, textarea, select') ? host : host.querySelector('input, textarea, select'));
      return input ? input.value : null;
    }, testid);
  }
  async attr(testid, name) {
    return (await this.waitFor(testid)).getAttribute(name);
  }
  /** The text of an element and everything in it, visible or scrolled away. */
  async content(testid) {
    return this.b.execute((id) => document.querySelector(`[data-testid="${id}"]`)?.textContent ?? '', testid);
  }
  async text(testid) {
    return (await this.waitFor(testid)).getText();
  }
  async until(what, check, timeout = 30_000) {
    const start = Date.now();
    let last;
    for (;;) {
      try {
        last = await check();
        if (last) return last;
      } catch (error) {
        last = error;
      }
      if (Date.now() - start > timeout) {
        await this.shot(`failure-${what.replace(/[^\p{L}\p{N}]+/gu, '-').slice(0, 60)}`, { audit: false }).catch(() => {});
        throw new Error(`timed out waiting for ${what} (last: ${last})`);
      }
      await sleep(200);
    }
  }
  /** A screenshot of the screen now shown, which is also audited (lib/audit.mjs): any
   * contrast violation or undersized target in either theme fails the test here.
   * `{ audit: false }` for a screenshot of a failure. */
  async shot(name, { audit = true } = {}) {
    mkdirSync(SHOTS, { recursive: true });
    await this.b.saveScreenshot(path.join(SHOTS, `${name}.png`));
    if (!audit || process.env.XUNCHA_E2E_AUDIT === '0') return;
    const problems = await auditScreen(this.b);
    if (problems.length > 0) {
      throw new Error(`screen ${name}: ${problems.length} legibility or touch problem(s):\n  ${problems.join('\n  ')}`);
    }
  }
  async close() {
    try {
      await this.b.deleteSession();
    } catch {
      // Already gone (killed on purpose).
    }
  }
}

export function cleanup(dir) {
  if (!process.env.XUNCHA_E2E_KEEP) rmSync(dir, { recursive: true, force: true });
}
