// Shared helpers of the browser tests (node --test): a real `ehall serve` on SQLite in
// test mode, Debian's Chromium through playwright-core, axe-core on every page, the
// network log, screenshots, and people (a new person; an administrator's first log-in).
//
//   import * as h from './helpers.mjs';
//   const srv = await h.startServer();            // {url, dir, passwords, sms(), cli(), stop()}
//   const browser = await h.launch();
//   const { page, net } = await h.openPage(browser, srv, { viewport: h.PHONE });
//   await h.visit(page, '/items');                // goto, wait until quiet, axe (throws on serious/critical)
//   await h.shot(page, 'items');                  // build/screenshots/items.png
//   const p = await h.newPerson(srv);             // registered through the API
//   await h.loginUI(page, p.login, p.password);   // through the log-in page
//   const a = await h.adminFirstLogin(page, srv, 'secadmin'); // password change + TOTP enrolment
//   const s = await h.newStaff(srv);              // staff with a role, via the administrators' API
//   await h.firstLoginUI(page, s.login, s.one_time_password, { landing: '/workbench' });
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { createHmac, randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';

const require = createRequire(import.meta.url);
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = process.env.EHALL_BIN || join(ROOT, 'build', 'ehall');
export const WEB = join(ROOT, 'web', 'dist');
export const SHOTS = join(ROOT, 'build', 'screenshots');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const PHONE = { width: 375, height: 740 };
export const DESKTOP = { width: 1280, height: 800 };
export const PASSWORD = 'Hall-2026-pass';
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Start `ehall serve` on a fresh SQLite data dir with the 2026 calendar, the shipped
 *  items, the licence types and the three administrators; test mode on loopback. */
export async function startServer({ env = {} } = {}) {
  if (!existsSync(join(WEB, 'index.html'))) throw new Error(`no built UI in ${WEB}: run npm run build first`);
  const dir = mkdtempSync(join(tmpdir(), 'ehall-e2e-'));
  const cli = (...args) => execFileSync(BIN, ['--data', dir, ...args], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  cli('calendar', 'import', join(ROOT, 'calendar', '2026.json'));
  cli('items', 'import', join(ROOT, 'items'));
  cli('tax', 'params', 'import', join(ROOT, 'tax', 'params')); // tax rates, thresholds, filing calendar
  cli('license', 'import', join(ROOT, 'licences')); // the licence types, after the items (as `make run` does)
  const boot = cli('admin', 'bootstrap');
  const passwords = {};
  for (const m of boot.matchAll(/login (\S+)\s+password (\S+)/g)) passwords[m[1]] = m[2];
  if (!passwords.secadmin) throw new Error(`admin bootstrap said: ${boot}`);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc = spawn(BIN, ['--data', dir, 'serve', '--listen', `127.0.0.1:${port}`], {
    cwd: ROOT,
    env: { ...process.env, EHALL_TEST_MODE: '1', EHALL_WEB_ROOT: WEB, EHALL_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  proc.stderr.on('data', (d) => (log = (log + d).slice(-4000)));
  const until = Date.now() + 20000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`ehall serve exited: ${log}`);
    try {
      if ((await fetch(`${url}/readyz`)).ok) break;
    } catch {
      /* not yet */
    }
    if (Date.now() > until) throw new Error(`ehall serve not ready: ${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    dir,
    passwords,
    cli,
    /** The newest SMS code sent to mobile (test mode). */
    async sms(mobile) {
      const r = await fetch(`${url}/api/v1/test/sms?mobile=${mobile}`);
      if (!r.ok) throw new Error(`no SMS to ${mobile}`);
      return (await r.json()).code;
    },
    async stop() {
      proc.kill('SIGTERM');
      await new Promise((r) => (proc.exitCode !== null ? r() : proc.once('exit', r)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function launch() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}

/** A fresh context (no cache, no storage) and page.  `net` collects every response's
 *  encoded (transferred) size; `captcha` holds the last captcha's test-mode answer. */
export async function openPage(browser, srv, { viewport = DESKTOP, prefs } = {}) {
  const context = await browser.newContext({ baseURL: srv.url, viewport, locale: 'zh-CN' });
  if (prefs) await context.addInitScript((p) => localStorage.setItem('ehall.prefs', JSON.stringify(p)), prefs);
  const page = await context.newPage();
  const net = { bytes: 0, requests: [] };
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  const urls = new Map();
  cdp.on('Network.responseReceived', (e) => urls.set(e.requestId, e.response.url));
  cdp.on('Network.loadingFinished', (e) => {
    net.bytes += e.encodedDataLength;
    net.requests.push({ url: urls.get(e.requestId), bytes: e.encodedDataLength });
  });
  page.captcha = null;
  page.on('response', async (r) => {
    // a reply that arrives after its page closed has no body to read any more
    if (r.url().endsWith('/api/v1/captcha') && r.status() === 201)
      page.captcha = await r.json().then((j) => j.answer, () => page.captcha);
  });
  page.on('pageerror', (e) => console.error('page error:', e.message));
  return { context, page, net, cdp };
}

/** Wait until no finite CSS animation or transition runs.  Dialogs, message boxes and
 *  messages fade in and out: mid-fade their text is half transparent, which axe's
 *  contrast rule reads as it is (and a loaded machine makes the fades last longer). Two
 *  frames first, so that a transition about to start is seen; infinite ones (spinners)
 *  are not waited for. */
export async function stillness(page) {
  await page.evaluate(async () => {
    const frame = () => new Promise((r) => requestAnimationFrame(() => r()));
    for (let i = 0; i < 20; i++) {
      await frame();
      await frame();
      const running = document
        .getAnimations()
        .filter((a) => a.playState !== 'finished' && a.playState !== 'idle' && a.effect?.getTiming().iterations !== Infinity);
      if (!running.length) return;
      await Promise.race([Promise.all(running.map((a) => a.finished.catch(() => {}))), new Promise((r) => setTimeout(r, 1000))]);
    }
  });
}

/** Run axe-core on the page once it is still; throws on serious or critical violations. */
export async function axe(page, label = page.url()) {
  await stillness(page);
  await page.evaluate(AXE);
  const res = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  if (bad.length) {
    const text = bad.map((v) => `${v.impact} ${v.id}: ${v.help}\n    ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join('\n    ')}`);
    throw new Error(`axe on ${label}:\n  ${text.join('\n  ')}`);
  }
  return res.violations;
}

/** The page as it is now fits 375 px without scrolling sideways; a screenshot
 *  `<name>-375`; then back to the viewport it had. */
export async function fitsPhone(page, name) {
  const was = page.viewportSize();
  await page.setViewportSize(PHONE);
  await page.waitForTimeout(150);
  assert.equal(await scrollsSideways(page), false, `${name} scrolls sideways at 375 px`);
  await shot(page, `${name}-375`);
  await page.setViewportSize(was);
}

/** An Element Plus confirmation box: axe on it, then its primary button, then quiet. */
export async function confirmDialog(page) {
  await page.waitForSelector('.el-message-box');
  await axe(page, 'confirmation dialog');
  await page.click('.el-message-box__btns .el-button--primary');
  await page.waitForSelector('.el-message-box', { state: 'hidden' });
  await settle(page);
}

/** Choose the option showing text in the el-select marked data-test=selectTest. */
export async function pickOption(page, selectTest, text) {
  await page.click(`[data-test=${selectTest}]`);
  await page.click(`.el-select-dropdown__item:visible:has-text("${text}")`);
}

/** Wait until no request is in flight and the UI's progress bar is gone. */
export async function settle(page) {
  await page.waitForLoadState('networkidle');
  await page.waitForFunction(() => !document.querySelector('.progress'));
}

/** Go to path, let it settle, check it with axe. */
export async function visit(page, path) {
  await page.goto(path);
  await settle(page);
  await axe(page, path);
}

export async function shot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** True when the page scrolls sideways. */
export function scrollsSideways(page) {
  return page.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth);
}

/** The answer of the captcha the page shows now (test mode), waiting for a new one. */
export async function captchaAnswer(page) {
  await page.waitForFunction(() => document.querySelector('.captcha-img'));
  for (let i = 0; i < 50 && !page.captcha; i++) await page.waitForTimeout(100);
  const a = page.captcha;
  page.captcha = null;
  return a;
}

// A valid GB 11643 ID number for a made-up person born in 1990.
export function idNumber(seq = Math.floor(Math.random() * 998)) {
  const W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const s = `11010519900307${String(seq).padStart(3, '0')}`;
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += Number(s[i]) * W[i];
  return s + '10X98765432'[sum % 11];
}

/** Data for a new person: login, password, name, id_number, mobile. */
export function personData() {
  const tag = randomBytes(3).toString('hex');
  return {
    login: `p${tag}`,
    password: PASSWORD,
    name: `张${tag.slice(0, 2)}`,
    id_number: idNumber(),
    mobile: `139${String(parseInt(tag, 16) % 100000000).padStart(8, '0')}`,
  };
}

/** Register a new person through the API (captcha + SMS code); returns personData(). */
export async function newPerson(srv) {
  const p = personData();
  let cookie = '';
  const call = async (method, path, body, token) => {
    const r = await fetch(srv.url + '/api/v1' + path, {
      method,
      headers: { 'Content-Type': 'application/json', Cookie: cookie, ...(token ? { 'X-CSRF-Token': token } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const set = r.headers.getSetCookie?.() ?? [];
    for (const c of set) cookie = c.split(';')[0];
    const j = await r.json();
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(j)}`);
    return j;
  };
  const { csrf } = await call('GET', '/session');
  const c = await call('POST', '/captcha', {}, csrf);
  await call('POST', '/sms/code', { purpose: 'register', mobile: p.mobile, captcha_id: c.id, captcha: c.answer }, csrf);
  const code = await srv.sms(p.mobile);
  await call('POST', '/auth/register/person', { ...p, sms_code: code }, csrf);
  return p;
}

/** Log in through the log-in page with password and captcha; leaves the page at the
 *  next stage (or the account's home). */
export async function loginUI(page, login, password) {
  await page.goto('/login');
  await page.fill('[data-test=login]', login);
  await page.fill('[data-test=password]', password);
  await page.fill('[data-test=captcha]', await captchaAnswer(page));
  await page.click('[data-test=submit]');
  await settle(page);
}

// RFC 6238 TOTP (6 digits, 30 s) with HMAC-SHA1 or HMAC-SM3 (node's OpenSSL 3 has sm3).
export function totp(secret, digest = 'SHA1', at = Date.now()) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const ch of secret.replace(/=+$/, '').toUpperCase()) bits += alphabet.indexOf(ch).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 1000 / 30)));
  const h = createHmac(digest.toLowerCase(), key).update(counter).digest();
  const o = h[h.length - 1] & 15;
  return String((h.readUInt32BE(o) & 0x7fffffff) % 1000000).padStart(6, '0');
}

/** A first log-in through the UI with a one-time password: log in, the forced password
 *  change, TOTP enrolment (digest SM3 or SHA1); waits for the landing path. */
export async function firstLoginUI(page, login, oneTime, { digest = 'SM3', landing, onStage } = {}) {
  await loginUI(page, login, oneTime);
  await page.waitForSelector('[data-test=password-form]');
  if (onStage) await onStage('password');
  await page.fill('[data-test=current]', oneTime);
  await page.fill('[data-test=new]', PASSWORD);
  await page.fill('[data-test=again]', PASSWORD);
  await page.click('[data-test=password-form] button[type=submit]');
  await page.waitForSelector('[data-test=totp-form]');
  if (onStage) await onStage('enroll');
  await page.click(`[data-test=digest-${digest.toLowerCase()}]`);
  await page.click('[data-test=totp-start]');
  const secret = (await page.textContent('[data-test=totp-secret]')).trim();
  await page.fill('[data-test=totp-code]', totp(secret, digest));
  await page.click('[data-test=totp-confirm]');
  if (landing) await page.waitForURL((u) => u.pathname === landing);
  await settle(page);
  return { login, password: PASSWORD, secret, digest };
}

/** An administrator's first log-in through the UI; ends on the admin page. */
export function adminFirstLogin(page, srv, login, opts = {}) {
  return firstLoginUI(page, login, srv.passwords[login], { landing: '/admin', ...opts });
}

/** A client of the JSON API for node (cookie jar, CSRF token), for setting up data the
 *  test is not about.  call() throws on a non-2xx answer. */
export function apiClient(srv) {
  let cookies = {};
  let csrf = null;
  async function call(method, path, body) {
    if (!csrf && method !== 'GET') await call('GET', '/session');
    const r = await fetch(srv.url + '/api/v1' + path, {
      method,
      headers: {
        'Content-Type': 'application/json',
        Cookie: Object.entries(cookies).map(([k, v]) => `${k}=${v}`).join('; '),
        ...(method !== 'GET' ? { 'X-CSRF-Token': csrf } : {}),
      },
      body: method !== 'GET' ? JSON.stringify(body ?? {}) : undefined,
    });
    for (const c of r.headers.getSetCookie?.() ?? []) {
      const [kv] = c.split(';');
      const i = kv.indexOf('=');
      cookies[kv.slice(0, i)] = kv.slice(i + 1);
    }
    const j = await r.json();
    if (j && typeof j.csrf === 'string') csrf = j.csrf;
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(j)}`);
    return j;
  }
  return { call };
}

/** An administrator logged in through the API after the first log-in (password change,
 *  TOTP enrolment with SHA1). */
export async function adminApi(srv, login) {
  const c = apiClient(srv);
  const cap = await c.call('POST', '/captcha', {});
  await c.call('POST', '/auth/login', { login, password: srv.passwords[login], captcha_id: cap.id, captcha: cap.answer });
  await c.call('POST', '/account/password', { current_password: srv.passwords[login], new_password: PASSWORD });
  const t = await c.call('POST', '/account/totp/setup', { digest: 'SHA1' });
  await c.call('POST', '/account/totp/confirm', { code: totp(t.secret, 'SHA1') });
  return c;
}

/** A staff account in department deptCode holding roles, made by the system and security
 *  administrators through the API; returns {login, one_time_password}. */
export async function newStaff(srv, { deptCode = 'PSB-YZ', roles = ['hj_clerk'] } = {}) {
  srv.sys ??= await adminApi(srv, 'sysadmin');
  srv.sec ??= await adminApi(srv, 'secadmin');
  const { departments } = await srv.sys.call('GET', '/admin/departments');
  const dept = departments.find((d) => d.code === deptCode);
  if (!dept) throw new Error(`no department ${deptCode}`);
  const login = `s${randomBytes(3).toString('hex')}`;
  const made = await srv.sys.call('POST', '/admin/staff', { login, name: '李窗口', department: dept.id, badge: login.toUpperCase() });
  await srv.sec.call('PUT', `/admin/accounts/${made.id}/roles`, { roles });
  return { login, one_time_password: made.one_time_password };
}

/** A public account (person, enterprise) logged in through the API with captcha and
 *  password; {call(method, path, body), upload(fileName, bytes) → library entry}. */
export async function accountApi(srv, login, password = PASSWORD) {
  const jar = {};
  let csrf = null;
  const cookie = () => Object.entries(jar).map(([k, v]) => `${k}=${v}`).join('; ');
  async function send(method, path, body, headers = {}) {
    if (!csrf && method !== 'GET') await send('GET', '/session');
    const r = await fetch(srv.url + '/api/v1' + path, {
      method,
      headers: { Cookie: cookie(), ...(method !== 'GET' ? { 'X-CSRF-Token': csrf } : {}), ...headers },
      body,
    });
    for (const c of r.headers.getSetCookie?.() ?? []) {
      const [kv] = c.split(';');
      const i = kv.indexOf('=');
      jar[kv.slice(0, i)] = kv.slice(i + 1);
    }
    const j = await r.json();
    if (j && typeof j.csrf === 'string') csrf = j.csrf;
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(j)}`);
    return j;
  }
  const call = (method, path, body) =>
    send(method, path, method !== 'GET' ? JSON.stringify(body ?? {}) : undefined, { 'Content-Type': 'application/json' });
  const upload = (fileName, bytes) => send('POST', '/materials', bytes, { 'X-File-Name': encodeURIComponent(fileName) });
  const cap = await call('POST', '/captcha', {});
  await call('POST', '/auth/login', { login, password, captcha_id: cap.id, captcha: cap.answer });
  return { call, upload };
}

/** A small valid PDF (text) and PNG (w × h, one colour) for material uploads. */
export function smallPdf(text = 'ehall test') {
  return Buffer.from(`%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 100]>>endobj\n% ${text}\ntrailer<</Root 1 0 R>>\n%%EOF\n`);
}
export function smallPng(w = 60, h = 40, rgb = [11, 79, 143]) {
  const { deflateSync, crc32 } = require('node:zlib');
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td) >>> 0);
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array.from({ length: w }, () => rgb).flat())]);
  const raw = Buffer.concat(Array.from({ length: h }, (_, y) => (y < h / 2 ? row : Buffer.concat([Buffer.from([0]), Buffer.alloc(w * 3, 230)]))));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

/** Today's date as the server's calendar counts it (days since 1970-01-01 in its zone,
 *  the `timezone` setting: Asia/Shanghai by default). */
export function calendarToday(timeZone = 'Asia/Shanghai', d = new Date()) {
  const [y, m, day] = new Intl.DateTimeFormat('en-CA', { timeZone }).format(d).split('-').map(Number);
  return Math.floor(Date.UTC(y, m - 1, day) / 86400000);
}

/** Run SQL on a test server's SQLite database (the sqlite3 command-line tool). */
export function sql(srv, text) {
  const db = ['ehall.db', 'ehall.sqlite', 'data.db'].map((n) => join(srv.dir, n)).find((p) => existsSync(p));
  if (!db) throw new Error(`no SQLite database in ${srv.dir}`);
  return execFileSync('sqlite3', ['-cmd', '.timeout 5000', db, text], { encoding: 'utf8' });
}

/** A staff member (from newStaff) logged in through the API after their first log-in
 *  (password change, TOTP enrolment with SHA1): an apiClient. */
export async function staffApi(srv, staff) {
  const c = apiClient(srv);
  const cap = await c.call('POST', '/captcha', {});
  await c.call('POST', '/auth/login', { login: staff.login, password: staff.one_time_password, captcha_id: cap.id, captcha: cap.answer });
  await c.call('POST', '/account/password', { current_password: staff.one_time_password, new_password: PASSWORD });
  const t = await c.call('POST', '/account/totp/setup', { digest: 'SHA1' });
  await c.call('POST', '/account/totp/confirm', { code: totp(t.secret, 'SHA1') });
  return c;
}

/** A small valid PDF (its text makes each one's bytes differ): {name, mimeType, buffer}. */
export function pdfFile(name = 'scan.pdf', text = name) {
  const body = `%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n% ${text} ${randomBytes(4).toString('hex')}\ntrailer<</Root 1 0 R>>\n%%EOF\n`;
  return { name, mimeType: 'application/pdf', buffer: Buffer.from(body) };
}

/** Register a person through the register page (captcha, SMS code); returns personData(). */
export async function registerUI(page, srv) {
  const p = personData();
  await page.goto('/register');
  await settle(page);
  for (const k of ['login', 'password', 'name', 'id_number', 'mobile']) await page.fill(`[data-test=${k}]`, p[k]);
  let code = null;
  for (let i = 0; i < 3 && !code; i++) {
    // (a captcha answered while a fresh one was loading is refused: take the new one and retry)
    await page.fill('[data-test=captcha]', await captchaAnswer(page));
    await page.click('[data-test=send-sms]');
    await settle(page);
    code = await srv.sms(p.mobile).catch(() => null);
  }
  if (!code) throw new Error(`registerUI: no SMS code reached ${p.mobile}`);
  await page.fill('[data-test=sms_code]', code);
  await page.click('[data-test=register-form] [data-test=submit]');
  await page.waitForURL((u) => u.pathname === '/login');
  await settle(page);
  await captchaAnswer(page); // the log-in page's captcha has been read before anyone navigates on
  return p;
}

/** An administrator's first log-in through the API (password changed, TOTP enrolled),
 *  keeping the TOTP secret in srv.totp so that adminLoginUI can log them in again; the
 *  client can make staff (newStaff). */
export async function adminApiKeeping(srv, login) {
  const c = apiClient(srv);
  const cap = await c.call('POST', '/captcha', {});
  await c.call('POST', '/auth/login', { login, password: srv.passwords[login], captcha_id: cap.id, captcha: cap.answer });
  await c.call('POST', '/account/password', { current_password: srv.passwords[login], new_password: PASSWORD });
  const t = await c.call('POST', '/account/totp/setup', { digest: 'SHA1' });
  await c.call('POST', '/account/totp/confirm', { code: totp(t.secret, 'SHA1') });
  (srv.totp ??= {})[login] = t.secret;
  return c;
}

/** Log such an administrator in through the log-in page: password, captcha, then the TOTP
 *  code of the next 30-second step (each step is single use; the API log-in spent this one). */
export async function adminLoginUI(page, srv, login) {
  await loginUI(page, login, PASSWORD);
  await page.waitForSelector('[data-test=mfa-form]');
  await page.fill('[data-test=mfa-code]', totp(srv.totp[login], 'SHA1', Date.now() + 30000));
  await page.click('[data-test=mfa-submit]');
  await page.waitForURL((u) => u.pathname === '/admin');
  await settle(page);
}

/** The openssl CLI: its standard output (throws on failure). */
export const openssl = (...args) => execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** An SM2 key pair made by the openssl CLI in dir: {key, pub} file paths, the SM3
 *  fingerprint of the public key's DER, and the private key's base64 body (to look for in
 *  requests). */
export function sm2Key(dir, name) {
  const key = join(dir, `${name}.pem`);
  const pub = join(dir, `${name}.pub.pem`);
  const der = join(dir, `${name}.pub.der`);
  openssl('genpkey', '-algorithm', 'SM2', '-out', key);
  openssl('pkey', '-in', key, '-pubout', '-out', pub);
  openssl('pkey', '-in', key, '-pubout', '-outform', 'DER', '-out', der);
  const fingerprint = openssl('dgst', '-sm3', '-r', der).slice(0, 64);
  const secret = readFileSync(key, 'utf8').split('\n').filter((l) => l && !l.startsWith('-----')).join('');
  return { key, pub, fingerprint, secret };
}

/** Every request the page sends, with its body, to prove what never leaves the browser. */
export function recordBodies(page) {
  const bodies = [];
  page.on('request', (r) => bodies.push(`${r.method()} ${r.url()} ${r.postData() ?? ''}`));
  return bodies;
}
