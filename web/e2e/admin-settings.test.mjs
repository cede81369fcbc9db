// The console's settings in a real browser: the system administrator checks item files
// without importing them (a broken file's problems listed with their JSON paths, a good
// one "no problems"); the security administrator lowers the lockout threshold in the
// policy form (ranges shown, confirmed, the source turns to "console") and a person is
// then locked after that many failed log-ins; and the security administrator narrows a
// staff account's log-in addresses (a bad range named beside its field).  axe-core on
// every page state, and no sideways scrolling at 375 px.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import * as h from './helpers.mjs';

let srv, browser;
const staff = { login: `ipr${Date.now() % 100000}` };
before(async () => {
  srv = await h.startServer();
  browser = await h.launch();
});
after(async () => {
  await browser?.close();
  await srv?.stop();
});

const confirmBox = async (page) => {
  await page.waitForSelector('.el-message-box');
  await page.click('.el-message-box .el-button--primary');
  await page.waitForSelector('.el-message-box', { state: 'hidden' });
  await h.settle(page);
};

test('the system administrator validates item files without importing them', async () => {
  const { context, page } = await h.openPage(browser, srv);
  await h.adminFirstLogin(page, srv, 'sysadmin');
  // a staff account for the IP-range test, made with this session (no roles)
  staff.id = await page.evaluate(async (login) => {
    const { csrf } = await (await fetch('/api/v1/session')).json();
    const { departments } = await (await fetch('/api/v1/admin/departments')).json();
    const dept = departments.find((d) => d.code === 'PSB-YZ');
    const r = await fetch('/api/v1/admin/staff', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
      body: JSON.stringify({ login, name: '赵地址', department: dept.id, badge: login.toUpperCase(), ip_ranges: '127.0.0.0/8' }),
    });
    return (await r.json()).id;
  }, staff.login);
  assert.ok(staff.id > 0);

  await h.visit(page, '/admin/items');
  await page.waitForSelector('[data-test=iv-file]');
  const dir = mkdtempSync(join(tmpdir(), 'ehall-iv-'));
  const broken = join(dir, 'GA-HJ-0001.json');
  const def = JSON.parse(readFileSync(join(h.ROOT, 'items', 'GA-HJ-0001.json'), 'utf8'));
  writeFileSync(broken, JSON.stringify({ ...def, code: 'GA-HJ-0001', name: '', colour: 'red' }));
  await page.setInputFiles('[data-test=iv-file]', broken);
  await page.waitForSelector('[data-test=iv-result][data-valid=false]');
  const problems = await page.$$eval('[data-test=iv-problems] li', (ls) => ls.map((l) => l.textContent));
  assert.ok(problems.some((p) => p.startsWith('$.name')), problems.join('\n'));
  assert.ok(problems.some((p) => p.includes('colour')), problems.join('\n'));
  await h.axe(page, '/admin/items with a broken item file');
  await h.shot(page, 'admin-items-validate');
  // not JSON at all
  const junk = join(dir, 'junk.json');
  writeFileSync(junk, '{"code": ');
  await page.setInputFiles('[data-test=iv-file]', junk);
  await page.waitForSelector('[data-test=iv-result][data-valid=false] >> text=JSON');
  // the shipped file: valid, and nothing was imported twice or changed
  await page.setInputFiles('[data-test=iv-file]', join(h.ROOT, 'items', 'GA-HJ-0002.json'));
  await page.waitForSelector('[data-test=iv-result][data-valid=true]');
  assert.match(await page.textContent('[data-test=iv-result]'), /GA-HJ-0002/);
  assert.equal(await page.$('[data-test=iv-warnings]'), null);
  // valid, but naming a department this system does not have: said as a note
  const elsewhere = join(dir, 'GA-HJ-0003.json');
  const d3 = JSON.parse(readFileSync(join(h.ROOT, 'items', 'GA-HJ-0003.json'), 'utf8'));
  writeFileSync(elsewhere, JSON.stringify({ ...d3, department: 'XX-NEW' }));
  await page.setInputFiles('[data-test=iv-file]', elsewhere);
  await page.waitForSelector('[data-test=iv-result][data-valid=true] [data-test=iv-warnings] >> text=XX-NEW');
  await h.axe(page, '/admin/items with a note');
  assert.equal(h.sql(srv, "SELECT COUNT(*) FROM item_version WHERE code = 'GA-HJ-0001'").trim(), '1');
  assert.equal(h.sql(srv, "SELECT COUNT(*) FROM department WHERE code = 'XX-NEW'").trim(), '0');
  await page.setViewportSize(h.PHONE);
  await h.settle(page);
  assert.equal(await h.scrollsSideways(page), false);
  await h.axe(page, '/admin/items (phone)');
  await context.close();
});

test('the security administrator lowers the lockout threshold and edits staff addresses', async () => {
  const person = await h.newPerson(srv);
  const { context, page } = await h.openPage(browser, srv);
  await h.adminFirstLogin(page, srv, 'secadmin');
  await h.visit(page, '/admin/security');
  const input = '[data-test=set-auth-lockout_threshold] input';
  await page.waitForSelector(input);
  assert.equal(await page.getAttribute('[data-test="source-auth.lockout_threshold"]', 'data-source'), 'config');
  assert.match(await page.textContent('[data-key="auth.lockout_threshold"]'), /1–100/);
  await page.fill(input, '2');
  await page.click('[data-test=policy-save]');
  await page.waitForSelector('.el-message-box');
  assert.match(await page.textContent('.el-message-box'), /3 → 2/);
  await confirmBox(page);
  await page.waitForSelector('[data-test="source-auth.lockout_threshold"][data-source=console]');
  assert.match(await page.textContent('[data-test="source-auth.lockout_threshold"]'), /secadmin/);
  assert.match(await page.textContent('[data-test=policy]'), /连续失败次数\s*2/);
  await h.axe(page, '/admin/security (policy changed)');
  await h.shot(page, 'admin-security-policy');

  // the staff account's addresses: found, picked, a bad range refused by name, then narrowed
  await page.fill('[data-test=find-q]', staff.login);
  await page.click('[data-test=find-submit]');
  await h.settle(page);
  await page.click(`[data-test=pick-${staff.login}]`);
  assert.equal(await page.inputValue('[data-test=ipr-id]'), String(staff.id));
  assert.match(await page.textContent('[data-test=ipr-current]'), /127\.0\.0\.0\/8/);
  await page.fill('[data-test=ipr-ranges]', '10.0.0.0/33');
  await page.click('[data-test=ipr-save]');
  await confirmBox(page);
  await page.waitForSelector('[data-test=ipr-form] .el-form-item__error');
  await h.axe(page, '/admin/security (a bad range)');
  await page.fill('[data-test=ipr-ranges]', '10.9.0.0/16, 192.168.3.7');
  await page.click('[data-test=ipr-save]');
  await confirmBox(page);
  await page.waitForSelector('[data-test=ipr-current] >> text=10.9.0.0/16,192.168.3.7');
  assert.equal(h.sql(srv, `SELECT ip_ranges FROM account WHERE id = ${staff.id}`).trim(), '10.9.0.0/16,192.168.3.7');
  assert.match(h.sql(srv, "SELECT details FROM audit_log WHERE action = 'org.staff.ip_ranges'"), /"old":"127\.0\.0\.0\/8"/);
  await page.setViewportSize(h.PHONE);
  await h.settle(page);
  assert.equal(await h.scrollsSideways(page), false);
  await h.axe(page, '/admin/security (phone)');
  await h.shot(page, 'admin-security-phone');
  await context.close();

  // a person is now locked at the second failure, not the third
  const p2 = await h.openPage(browser, srv);
  await h.loginUI(p2.page, person.login, 'Wrong-pass-1');
  assert.doesNotMatch(await p2.page.textContent('main'), /锁定/);
  await h.captchaAnswer(p2.page); // the fresh captcha after a failure, read before the page is left
  await h.loginUI(p2.page, person.login, 'Wrong-pass-1');
  await p2.page.waitForSelector('text=账户已暂时锁定');
  await h.axe(p2.page, '/login (locked)');
  await p2.context.close();
  assert.match(h.sql(srv, "SELECT details FROM audit_log WHERE action = 'security.policy.change'"), /"new":2/);
});
