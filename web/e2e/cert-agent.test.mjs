// Certificate log-in, the agent's page and PDFs in the page, in a real browser:
// - a person registers SM2 keys made by the openssl CLI on the account page (a public key
//   file, and a private key file from which the page derives the public key), logs in on
//   the Certificate tab by picking the private key file (signed in the browser: no request
//   ever carries the private key), is refused with an unregistered key and told what is
//   wrong with a public, encrypted or non-SM2 key file, removes a key and can no longer
//   log in with it;
// - an agent sees the grants an enterprise gave it (an active and a revoked one), acts for
//   the enterprise (the header says so on every page, after a reload too, at 375 px and in
//   English) and goes back;
// - a submitted case's PDF shown inline by the applicant's case detail and the staff's
//   material viewer (the browser's PDF viewer inside a same-origin frame); the content
//   stays an unframeable attachment unless asked for inline.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as h from './helpers.mjs';

let srv, browser, keys;
before(async () => {
  srv = await h.startServer();
  browser = await h.launch();
  keys = mkdtempSync(join(tmpdir(), 'ehall-keys-'));
});
after(async () => {
  await browser?.close();
  await srv?.stop();
  if (keys) rmSync(keys, { recursive: true, force: true });
});

const { openssl } = h;

async function certLogin(page, login, file) {
  await page.goto('/login');
  await h.settle(page);
  await page.click('#tab-cert');
  await page.waitForSelector('[data-test=cert-form]');
  await page.fill('[data-test=cert-login]', login);
  await page.setInputFiles('[data-test=cert-key]', file);
  // the key is read (sm2key.js loaded on first use) before the form can be sent
  await page.waitForFunction(() => document.querySelector('[data-test=cert-key]').files.length === 1);
  await h.settle(page);
  await page.click('[data-test=cert-submit]');
  await h.settle(page);
}

const keyFieldError = (page, form) =>
  page.locator(`[data-test=${form}] .el-form-item`, { has: page.locator('input[type=file]') }).locator('.el-form-item__error');

test('SM2 keys made by openssl: registered on the account page, used to log in in the browser, removed', async () => {
  const p = await h.newPerson(srv);
  const k1 = h.sm2Key(keys, 'one');
  const k2 = h.sm2Key(keys, 'two');
  const stranger = h.sm2Key(keys, 'stranger');
  const { context, page } = await h.openPage(browser, srv);
  const bodies = h.recordBodies(page);
  const scripts = [];
  page.on('response', (r) => r.url().includes('/assets/') && r.url().endsWith('.js') && scripts.push(r.url()));

  await h.loginUI(page, p.login, p.password);
  await page.waitForURL((u) => u.pathname === '/');
  assert.ok(!scripts.some((u) => /sm2key/.test(u)), 'sm-crypto is not loaded before a key is used');
  await h.visit(page, '/account');
  await page.waitForSelector('[data-test=cert-none]');

  // 1. a public key file
  await page.setInputFiles('[data-test=cert-add-file]', k1.pub);
  await page.waitForSelector('[data-test=cert-picked]');
  assert.match(await page.textContent('[data-test=cert-picked]'), new RegExp(k1.fingerprint.slice(0, 16)));
  assert.ok(scripts.some((u) => /sm2key/.test(u)), 'the key module is loaded when a key is picked');
  await page.fill('[data-test=cert-add-label]', 'USB 钥匙');
  await page.click('[data-test=cert-add-submit]');
  await page.waitForSelector(`[data-test=cert-list] li[data-fingerprint="${k1.fingerprint}"]`);
  // 2. a private key file: the page derives the public key; the server computes the same fingerprint
  await page.setInputFiles('[data-test=cert-add-file]', k2.key);
  await page.waitForSelector('[data-test=cert-picked]');
  assert.match(await page.textContent('[data-test=cert-picked]'), /私钥/);
  await page.fill('[data-test=cert-add-label]', '笔记本');
  await page.click('[data-test=cert-add-submit]');
  await page.waitForSelector(`[data-test=cert-list] li[data-fingerprint="${k2.fingerprint}"]`);
  // the same key again: the server's conflict is shown
  await page.setInputFiles('[data-test=cert-add-file]', k2.pub);
  await page.waitForSelector('[data-test=cert-picked]');
  await page.fill('[data-test=cert-add-label]', 'again');
  await page.click('[data-test=cert-add-submit]');
  await page.waitForSelector('[data-test=certs] [data-test=error]');
  assert.equal(await page.locator('[data-test=cert-list] li').count(), 2);
  await h.axe(page, '/account (keys)');
  await h.shot(page, 'account-keys');

  await page.click('[data-test=logout]');
  await h.settle(page);

  // the Certificate tab: wrong files are explained beside the field
  await page.goto('/login');
  await h.settle(page);
  await page.click('#tab-cert');
  await page.waitForSelector('[data-test=cert-form]');
  await h.axe(page, '/login (certificate)');
  await h.shot(page, 'login-certificate');
  const enc = join(keys, 'encrypted.pem');
  openssl('pkcs8', '-topk8', '-in', k1.key, '-out', enc, '-passout', 'pass:secret-pass');
  const p256 = join(keys, 'p256.pem');
  openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', p256);
  for (const [file, want] of [[k1.pub, /公钥文件/], [enc, /口令/], [p256, /不是 SM2/]]) {
    await page.setInputFiles('[data-test=cert-key]', file);
    await page.waitForFunction(() => document.querySelector('[data-test=cert-form] .el-form-item__error'));
    assert.match(await keyFieldError(page, 'cert-form').textContent(), want);
  }
  await h.axe(page, '/login (certificate, key error)');

  // a key that is not registered: refused by the server
  await certLogin(page, p.login, stranger.key);
  await page.waitForSelector('[data-test=cert-form] [data-test=error]');
  assert.equal(new URL(page.url()).pathname, '/login');

  // the registered key: logged in, at the portal
  await certLogin(page, p.login, k1.key);
  await page.waitForURL((u) => u.pathname === '/');
  await h.settle(page);
  assert.equal(await page.textContent('[data-test=who]'), p.login);
  const s = await page.evaluate(() => fetch('/api/v1/session').then((r) => r.json()));
  assert.equal(s.stage, 'full');
  const certOk = h.sql(srv, `SELECT COUNT(*) FROM audit_log WHERE action = 'auth.login' AND object = '${p.login}' AND result = 'ok' AND details LIKE '%certificate%'`);
  assert.equal(certOk.trim(), '1', 'the certificate log-in is audited as such');
  await h.visit(page, '/account');

  // removing a key (confirmed): it no longer logs in
  await page.click(`[data-test=cert-list] li[data-fingerprint="${k1.fingerprint}"] [data-test=cert-remove]`);
  await h.confirmDialog(page);
  await page.waitForFunction((fp) => !document.querySelector(`[data-test=cert-list] li[data-fingerprint="${fp}"]`), k1.fingerprint);
  assert.equal(await page.locator('[data-test=cert-list] li').count(), 1);
  await page.click('[data-test=logout]');
  await h.settle(page);
  await certLogin(page, p.login, k1.key);
  await page.waitForSelector('[data-test=cert-form] [data-test=error]');
  // the other key still does
  await certLogin(page, p.login, k2.key);
  await page.waitForURL((u) => u.pathname === '/');

  // no request ever carried a private key
  const leaked = bodies.filter((b) => b.includes('PRIVATE KEY') || [k1, k2, stranger].some((k) => b.includes(k.secret.slice(8, 48))));
  assert.deepEqual(leaked, []);
  const signed = bodies.filter((b) => b.includes('/api/v1/auth/cert/login'));
  assert.equal(signed.length, 4, 'four signed challenges were sent');
  for (const b of signed) assert.match(b, /"signature":"30[0-9a-f]+"/); // a DER SEQUENCE in hex
  await context.close();
});

/** An account registered through the API (captcha + SMS code), at path with extra fields. */
async function registerApi(path, extra) {
  const c = h.apiClient(srv);
  const d = h.personData();
  const cap = await c.call('POST', '/captcha', {});
  await c.call('POST', '/sms/code', { purpose: 'register', mobile: d.mobile, captcha_id: cap.id, captcha: cap.answer });
  const made = await c.call('POST', path, { ...d, ...extra, sms_code: await srv.sms(d.mobile) });
  return { ...d, ...made };
}

test('an agent acts for an enterprise under a grant and goes back', async () => {
  const agent = await registerApi('/auth/register/person', { agent: true });
  const ent = await registerApi('/auth/register/enterprise', { enterprise_name: '福州某某代办测试有限公司', uscc: '91350100M000100Y43', legal_rep: '王法人' });
  const admin = await h.accountApi(srv, ent.login, ent.password);
  const now = Math.floor(Date.now() / 1000);
  const old = await admin.call('POST', '/enterprise/agents', { agent: agent.login, items: ['SW-FP-0001'], valid_from: now - 60, valid_to: now + 86400 });
  await admin.call('DELETE', `/enterprise/agents/${old.id}`);
  const g = await admin.call('POST', '/enterprise/agents', { agent: agent.login, items: ['*'], valid_from: now - 60, valid_to: now + 30 * 86400 });

  const { context, page } = await h.openPage(browser, srv);
  await h.loginUI(page, agent.login, agent.password);
  await page.waitForURL((u) => u.pathname === '/');
  await page.click('nav.menu >> text=代理办事');
  await page.waitForSelector('[data-test=agent-grants]');
  await h.settle(page);
  await h.axe(page, '/agent');
  const rows = page.locator('[data-test=agent-grants] li');
  assert.equal(await rows.count(), 2);
  const active = page.locator(`[data-test=agent-grants] li[data-grant="${g.id}"]`);
  const revoked = page.locator(`[data-test=agent-grants] li[data-grant="${old.id}"]`);
  assert.match(await active.textContent(), /福州某某代办测试有限公司[\s\S]*有效[\s\S]*全部事项/);
  assert.match(await revoked.textContent(), /已撤销[\s\S]*SW-FP-0001/);
  assert.equal(await revoked.locator('button').count(), 0, 'a revoked grant cannot be used');
  assert.equal(await page.locator('[data-test=acting]').count(), 0);
  await h.shot(page, 'agent-grants');

  await page.click(`[data-test=act-${g.id}]`);
  await page.waitForSelector('[data-test=acting]');
  await h.settle(page);
  assert.equal((await page.textContent('[data-test=acting-name]')).trim(), '福州某某代办测试有限公司');
  assert.match(await page.textContent('[data-test=agent-now]'), /正在代 福州某某代办测试有限公司 办理/);
  await page.waitForSelector('[data-test=grant-current]');
  const s = await page.evaluate(() => fetch('/api/v1/session').then((r) => r.json()));
  assert.equal(s.on_behalf_of, ent.enterprise);
  assert.deepEqual([...s.permissions].sort(), ['ent.apply', 'ent.file', 'ent.view']);
  await h.axe(page, '/agent (acting)');
  await h.shot(page, 'agent-acting');

  // the header keeps saying so on other pages and after a reload
  await page.click('[data-test=agent-apply]');
  await page.waitForURL((u) => u.pathname === '/items');
  await h.settle(page);
  await h.axe(page, '/items (acting)');
  await page.reload();
  await h.settle(page);
  await page.waitForFunction(() => /福州某某代办测试有限公司/.test(document.querySelector('[data-test=acting-name]')?.textContent || ''));

  // the way back, from the header
  await page.click('[data-test=acting-back]');
  await page.waitForURL((u) => u.pathname === '/agent');
  await page.waitForSelector('[data-test=acting]', { state: 'detached' });
  await h.settle(page);
  const back = await page.evaluate(() => fetch('/api/v1/session').then((r) => r.json()));
  assert.equal(back.on_behalf_of, undefined);
  assert.equal(back.account.login, agent.login);
  assert.equal(await page.locator('[data-test=agent-now]').count(), 0);
  await context.close();

  // a phone, in English: the bar fits and says "Acting for"
  const phone = await h.openPage(browser, srv, { viewport: h.PHONE, prefs: { lang: 'en' } });
  await h.loginUI(phone.page, agent.login, agent.password);
  await phone.page.waitForURL((u) => u.pathname === '/');
  await h.visit(phone.page, '/agent');
  await phone.page.click(`[data-test=act-${g.id}]`);
  await phone.page.waitForSelector('[data-test=acting]');
  await h.settle(phone.page);
  assert.match(await phone.page.textContent('[data-test=acting]'), /Acting for:\s*福州某某代办测试有限公司[\s\S]*Back to my own account/);
  assert.equal(await h.scrollsSideways(phone.page), false, 'no sideways scroll at 375 px while acting');
  await h.axe(phone.page, '/agent (acting, phone, English)');
  await h.shot(phone.page, 'agent-acting-phone');
  await phone.page.click('[data-test=agent-stop]');
  await phone.page.waitForSelector('[data-test=acting]', { state: 'detached' });
  await phone.context.close();
});

/** Wait until the page holds the browser's PDF viewer inside the frame showing src. */
async function pdfShown(page) {
  await page.waitForSelector('[data-test=pdf]');
  const src = await page.getAttribute('[data-test=pdf]', 'src');
  assert.match(src, /\/materials\/[0-9a-f]{64}\?inline=1$/);
  for (let i = 0; i < 100; i++) {
    const urls = page.frames().map((f) => f.url());
    assert.ok(!urls.some((u) => u.startsWith('chrome-error:')), `the frame was refused: ${urls.join(' ')}`);
    if (urls.some((u) => u.startsWith('chrome-extension:'))) return src;
    await page.waitForTimeout(100);
  }
  throw new Error(`no PDF viewer in the frame: ${page.frames().map((f) => f.url()).join(' ')}`);
}

test('a PDF material shown in the page: the applicant’s case detail and the staff’s viewer', async () => {
  const p = await h.newPerson(srv);
  const person = await h.accountApi(srv, p.login, p.password);
  const pdf = await person.upload('户口簿.pdf', h.smallPdf('inline'));
  const png = await person.upload('出生医学证明.png', h.smallPng());
  const kase = await person.call('POST', '/cases', {
    item: 'GA-HJ-0002',
    form: { child_name: '李思远', child_id_number: '500103201503010520', origin: 'out_city', from_address: '四川省成都市武侯区人民南路四段1号', relation: 'mother', reason: '随母亲生活' },
    materials: { hukou_book: [pdf.id], birth_cert: [png.id] },
    submit: true,
    idempotency_key: `cert-agent-pdf-${Date.now()}`,
  });
  for (let i = 0; ; i++) {
    const c = await person.call('GET', `/cases/${kase.id}`);
    if (c.precheck === 'passed') break;
    if (i > 100) throw new Error(`case ${kase.id}: precheck ${c.precheck}, state ${c.state}`);
    await new Promise((r) => setTimeout(r, 200));
  }

  // the applicant
  const a = await h.openPage(browser, srv);
  const refused = [];
  a.page.on('console', (m) => /Refused to (frame|display)|Content Security Policy/i.test(m.text()) && refused.push(m.text()));
  await h.loginUI(a.page, p.login, p.password);
  await a.page.waitForURL((u) => u.pathname === '/');
  await h.visit(a.page, `/cases/${kase.id}`);
  assert.equal(await a.page.locator('[data-test=view-material]').count(), 2);
  await a.page.click('[data-test=case-materials] [data-test=view-material] >> nth=0');
  const src = await pdfShown(a.page);
  assert.match(await a.page.getAttribute('[data-test=pdf]', 'title'), /PDF/);
  await a.page.waitForTimeout(300);
  await h.shot(a.page, 'case-detail-pdf');
  // the headers: inline and same-origin framing only when asked for, else an unframeable attachment
  const heads = await a.page.evaluate(async (u) => {
    const get = async (x) => {
      const r = await fetch(x);
      return { cd: r.headers.get('content-disposition'), xfo: r.headers.get('x-frame-options'), csp: r.headers.get('content-security-policy') };
    };
    return { inline: await get(u), plain: await get(u.replace('?inline=1', '')) };
  }, src);
  assert.match(heads.inline.cd, /^inline;/);
  assert.equal(heads.inline.xfo, 'SAMEORIGIN');
  assert.match(heads.inline.csp, /frame-ancestors 'self'/);
  assert.match(heads.plain.cd, /^attachment;/);
  assert.equal(heads.plain.xfo, 'DENY');
  assert.match(heads.plain.csp, /frame-ancestors 'none'/);
  await a.page.keyboard.press('Escape');
  await a.page.waitForSelector('[data-test=pdf]', { state: 'detached' });
  await h.axe(a.page, `/cases/${kase.id} (after the viewer)`);
  // the image opens in the same viewer, without a frame
  await a.page.click('[data-test=case-materials] [data-test=view-material] >> nth=1');
  await a.page.waitForFunction(() => document.querySelector('[data-test=image]')?.naturalWidth > 0);
  assert.equal(await a.page.locator('[data-test=pdf]').count(), 0);
  await h.axe(a.page, 'material viewer (applicant, image)');
  assert.deepEqual(refused, []);
  await a.context.close();

  // the clerk's material viewer
  const s = await h.newStaff(srv, { deptCode: 'PSB-YZ-HJ', roles: ['hj_clerk'] });
  const c = await h.openPage(browser, srv);
  await h.firstLoginUI(c.page, s.login, s.one_time_password, { digest: 'SM3', landing: '/workbench' });
  await h.visit(c.page, `/workbench/cases/${kase.id}`);
  await c.page.click('[data-test=act-sign]');
  await h.settle(c.page);
  await c.page.click('[data-test=view-hukou_book]');
  await pdfShown(c.page);
  assert.equal(await c.page.locator('[data-test=viewer] [data-test=open-new]').count(), 1, 'the PDF can still open in a new tab');
  await c.page.waitForTimeout(300);
  await h.shot(c.page, 'material-viewer-pdf');
  await c.page.keyboard.press('Escape');
  await h.axe(c.page, 'case work (after the PDF viewer)');
  // staff reads are audited, the framed one too
  const audit = h.sql(srv, `SELECT COUNT(*) FROM audit_log WHERE action = 'material.read' AND object = 'case:${kase.id}'`);
  assert.ok(Number(audit.trim()) >= 1, `material.read audited: ${audit}`);
  await c.context.close();
});
