// Identity through the browser: register → log in → account security (second factor on
// and off, sessions, history) → log out; a server error shown beside its field; the
// security administrator's first log-in reaching the admin page; staff land on the
// workbench.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as h from './helpers.mjs';

let srv, browser;
const switchState = (page, name) =>
  page.evaluate((n) => {
    const el = document.querySelector(`[data-test=${n}]`);
    return (el.matches('input') ? el : el.querySelector('input')).getAttribute('aria-checked');
  }, name);
before(async () => {
  srv = await h.startServer();
  browser = await h.launch();
});
after(async () => {
  await browser?.close();
  await srv?.stop();
});

test('register → log in → account page → log out', async () => {
  const { context, page } = await h.openPage(browser, srv);
  const p = h.personData();
  await h.visit(page, '/register');
  await page.fill('[data-test=login]', p.login);
  await page.fill('[data-test=password]', p.password);
  await page.fill('[data-test=name]', p.name);
  await page.fill('[data-test=id_number]', p.id_number.slice(0, 17) + (p.id_number[17] === '0' ? '1' : '0')); // wrong check digit
  await page.fill('[data-test=mobile]', p.mobile);
  await page.fill('[data-test=captcha]', await h.captchaAnswer(page));
  await page.click('[data-test=send-sms]');
  await page.waitForFunction(() => document.querySelector('[data-test=send-sms]').disabled || document.querySelector('[data-test=error]'));
  assert.equal(await page.locator('[data-test=error]').count(), 0, `sending the SMS code failed: ${await page.locator('[data-test=error]').allTextContents()}`);
  await h.settle(page);
  await page.fill('[data-test=sms_code]', await srv.sms(p.mobile));
  await page.click('[data-test=submit]');
  await h.settle(page);
  // the server's field error appears beside the ID number
  const idItem = page.locator('.el-form-item', { has: page.locator('[data-test=id_number]') });
  assert.match(await idItem.locator('.el-form-item__error').textContent(), /check character/);
  await h.axe(page, '/register (errors)');
  await h.shot(page, 'register-errors');
  await page.fill('[data-test=id_number]', p.id_number);
  await page.click('[data-test=submit]');
  await page.waitForURL('**/login?login=*');
  await h.settle(page);
  assert.equal(await page.inputValue('[data-test=login]'), p.login);

  await h.axe(page, '/login');
  await h.shot(page, 'login');
  await page.fill('[data-test=password]', p.password);
  await page.fill('[data-test=captcha]', await h.captchaAnswer(page));
  await page.click('[data-test=submit]');
  await page.waitForURL((u) => u.pathname === '/');
  await h.settle(page);
  assert.equal(await page.textContent('[data-test=who]'), p.login);

  await page.click('nav.menu >> text=账户安全');
  await page.waitForSelector('[data-test=account]');
  await h.settle(page);
  await h.axe(page, '/account');
  assert.equal(await page.textContent('[data-test=account-login]'), p.login);
  assert.match(await page.textContent('[data-test=account]'), /139\*\*\*\*/); // masked mobile
  assert.ok((await page.locator('[data-test=sessions] li').count()) >= 1);
  assert.match(await page.textContent('[data-test=logins]'), /auth\.login/);
  // second factor on, persists, off again
  const mfaCall = () => page.waitForResponse((r) => r.url().endsWith('/api/v1/account/mfa') && r.ok());
  await Promise.all([mfaCall(), page.click('[data-test=mfa-switch]')]);
  await h.settle(page);
  await page.reload();
  await h.settle(page);
  assert.equal(await switchState(page, 'mfa-switch'), 'true');
  await h.shot(page, 'account');
  await Promise.all([mfaCall(), page.click('[data-test=mfa-switch]')]);
  await h.settle(page);
  assert.equal(await page.locator('[data-test=error]').count(), 0, 'no error after turning the factor off');
  assert.equal(await switchState(page, 'mfa-switch'), 'false');

  await page.click('[data-test=logout]');
  await page.waitForURL((u) => u.pathname === '/');
  // a page that needs a session now leads to the log-in page and back
  await page.goto('/account');
  await page.waitForURL((u) => u.pathname === '/login' && u.searchParams.get('next') === '/account');
  await context.close();
});

test('wrong password: the error says what to do next, and a new captcha is shown', async () => {
  const p = await h.newPerson(srv);
  const { context, page } = await h.openPage(browser, srv);
  await h.loginUI(page, p.login, 'Wrong-pass-1');
  assert.match(await page.textContent('[data-test=error]'), /用户名或密码不正确.*重试/);
  await h.axe(page, '/login (error)');
  await page.fill('[data-test=password]', p.password);
  await page.fill('[data-test=captcha]', await h.captchaAnswer(page));
  await page.click('[data-test=submit]');
  await page.waitForURL((u) => u.pathname === '/');
  await context.close();
});

test("the security administrator's first log-in: password change, TOTP (HMAC-SM3), admin page", async () => {
  const { context, page } = await h.openPage(browser, srv);
  await h.adminFirstLogin(page, srv, 'secadmin', {
    digest: 'SM3',
    onStage: async (stage) => {
      await h.axe(page, `/login (${stage})`);
      await h.shot(page, `login-${stage}`);
    },
  });
  assert.equal(await page.getAttribute('[data-test=admin-role]', 'data-role'), 'secadmin');
  const powers = await page.textContent('[data-test=powers]');
  assert.match(powers, /security\.role\.manage/);
  assert.doesNotMatch(powers, /audit\.read|org\.staff\.manage/);
  await h.axe(page, '/admin');
  await h.shot(page, 'admin-secadmin');
  // an administrator is not let into the workbench
  await page.goto('/workbench');
  await page.waitForURL('**/admin');
  await context.close();
});

test('the auditor enrols with HMAC-SHA1 and sees only audit powers', async () => {
  const { context, page } = await h.openPage(browser, srv, { viewport: h.PHONE });
  await h.adminFirstLogin(page, srv, 'auditor', { digest: 'SHA1' });
  const powers = await page.textContent('[data-test=powers]');
  assert.match(powers, /audit\.read/);
  assert.doesNotMatch(powers, /security\.|org\./);
  assert.equal(await h.scrollsSideways(page), false);
  await h.shot(page, 'phone-admin-auditor');
  await context.close();
});
