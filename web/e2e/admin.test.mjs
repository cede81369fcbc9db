// The administration console in a real browser, one administrator after another (三员
//分立): the system administrator makes a department and a staff account (one-time
// password shown once), disables and enables it, takes an item offline and online again
// and reads the working-day calendar; the security administrator makes a role and grants
// it to the new staff member, and reads the security settings; the auditor searches the
// audit log, exports it and sees the chain verified.  Each sees only their own pages.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as h from './helpers.mjs';

let srv, browser;
const made = {};
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
async function pick(page, selectSel, text) {
  await page.click(`${selectSel} .el-select__wrapper`);
  await page.locator('.el-select-dropdown__item:visible', { hasText: text }).first().click();
  await page.keyboard.press('Escape');
}
async function pagesShown(page) {
  await page.waitForSelector('[data-test=admin-pages]');
  return page.$$eval('[data-test=admin-pages] a', (as) => as.map((a) => a.dataset.test.replace('page-', '')).sort());
}

test('the system administrator: departments, a staff account, the catalog and the calendar', async () => {
  const { context, page } = await h.openPage(browser, srv);
  await h.adminFirstLogin(page, srv, 'sysadmin');
  assert.deepEqual(await pagesShown(page), ['items', 'licenceApps', 'notices', 'org']);
  await h.axe(page, '/admin (sysadmin)');
  await h.shot(page, 'console-sysadmin');

  await page.click('[data-test=page-org]');
  await page.waitForSelector('[data-test=dept-tree]');
  await h.settle(page);
  await h.axe(page, '/admin/org');
  await page.fill('[data-test=dept-code]', 'E2E-HALL');
  await page.fill('[data-test=dept-name]', '测试大厅');
  await pick(page, '[data-test=dept-form]', 'PSB-YZ-HJ');
  await page.click('[data-test=dept-submit]');
  await h.settle(page);
  await page.waitForSelector('[data-test=dept-tree] >> text=测试大厅 (E2E-HALL)');
  // a bad code is named beside its field
  await page.fill('[data-test=dept-code]', 'bad code');
  await page.fill('[data-test=dept-name]', 'x');
  await page.click('[data-test=dept-submit]');
  await page.waitForSelector('[data-test=dept-form] .el-form-item__error');

  made.login = `e2e${Date.now() % 100000}`;
  await page.fill('[data-test=staff-login]', made.login);
  await page.fill('[data-test=staff-name]', '王测试');
  await pick(page, '[data-test=staff-form]', 'E2E-HALL');
  await page.fill('[data-test=staff-badge]', 'B-001');
  await page.click('[data-test=staff-submit]');
  await h.settle(page);
  const otp = (await page.textContent('[data-test=otp]')).trim();
  assert.ok(otp.length >= 12, otp);
  made.id = Number((await page.textContent('[data-test=otp-box]')).match(/(?:编号|id) (\d+)/)[1]);
  await h.shot(page, 'admin-org');
  // disable, confirmed; then enable again
  await page.click(`[data-test=disable-${made.login}]`);
  await confirmBox(page);
  await page.waitForSelector(`[data-test=enable-${made.login}]`);
  await page.click(`[data-test=enable-${made.login}]`);
  await confirmBox(page);
  await page.waitForSelector(`[data-test=disable-${made.login}]`);

  await h.visit(page, '/admin/items');
  await page.waitForSelector('[data-test=catalog] [data-code=GA-HJ-0003]');
  await page.click('[data-test=offline-GA-HJ-0003]');
  await confirmBox(page);
  await page.waitForSelector('[data-test=online-GA-HJ-0003]');
  await page.click('[data-test=online-GA-HJ-0003]');
  await confirmBox(page);
  await page.waitForSelector('[data-test=offline-GA-HJ-0003]');
  await page.fill('[data-test=cal-year] input', '2026');
  await page.click('[data-test=cal-show]');
  await h.settle(page);
  assert.match(await page.textContent('[data-test=cal-source]'), /2026/);
  assert.match(await page.textContent('[data-test=cal-days]'), /2026-10-01/);
  await h.axe(page, '/admin/items with the calendar');
  await h.shot(page, 'admin-items');

  // not the others' pages: their overview links are absent, their pages say so
  await h.visit(page, '/admin/audit');
  assert.match(await page.textContent('main'), /没有这项权限/);
  await context.close();
});

test('the security administrator: a role made and granted; the security settings', async () => {
  const { context, page } = await h.openPage(browser, srv);
  await h.adminFirstLogin(page, srv, 'secadmin');
  assert.deepEqual(await pagesShown(page), ['security']);
  await h.shot(page, 'console-secadmin');
  await h.visit(page, '/admin/security');
  await page.waitForSelector('[data-test=roles] [data-role=secadmin]');
  await page.fill('[data-test=role-code]', 'e2e_window');
  await page.fill('[data-test=role-name]', '测试窗口');
  await page.click('[data-test="perm-account.read"]');
  await page.click('[data-test="perm-case.handle"]');
  await page.click('[data-test=role-submit]');
  await h.settle(page);
  await page.waitForSelector('[data-test=roles] [data-role=e2e_window]');
  assert.match(await page.textContent('[data-test=roles] [data-role=e2e_window]'), /account\.read · case\.handle|case\.handle · account\.read/);

  await page.fill('[data-test=assign-id]', String(made.id));
  await pick(page, '[data-test=assign-form]', 'e2e_window');
  await page.click('[data-test=assign-submit]');
  await page.waitForSelector('.el-message--success >> text=e2e_window');
  assert.match(await page.textContent('[data-test=policy]'), /锁定/);
  await h.axe(page, '/admin/security');
  await h.shot(page, 'admin-security');
  // unlock asks first; cancelling does nothing
  await page.fill('[data-test=unlock-id]', String(made.id));
  await page.click('[data-test=unlock]');
  await page.waitForSelector('.el-message-box');
  await page.click('.el-message-box .el-button:not(.el-button--primary)');
  await context.close();
});

test('the auditor: search, export and the verified chain; phone, English and elder mode', async () => {
  const { context, page } = await h.openPage(browser, srv);
  await h.adminFirstLogin(page, srv, 'auditor');
  assert.deepEqual(await pagesShown(page), ['audit', 'licenceUses']);
  await h.shot(page, 'console-auditor');
  await h.visit(page, '/admin/audit');
  await page.waitForSelector('[data-test=verify][data-intact=true]');
  await page.fill('[data-test=f-action]', 'security.*');
  await page.click('[data-test=audit-search]');
  await h.settle(page);
  const actions = await page.$$eval('[data-test=records] li', (ls) => ls.map((l) => l.dataset.action));
  assert.ok(actions.length > 0 && actions.every((a) => a.startsWith('security.')), actions.join(','));
  await page.fill('[data-test=f-action]', '');
  await page.fill('[data-test=f-object]', made.login);
  await page.click('[data-test=audit-search]');
  await h.settle(page);
  assert.ok((await page.$$('[data-test=records] li')).length >= 1);
  await h.axe(page, '/admin/audit');
  await h.shot(page, 'admin-audit');
  for (const [sel, ext] of [['[data-test=export-csv]', '.csv'], ['[data-test=export-jsonl]', '.jsonl']]) {
    const [dl] = await Promise.all([page.waitForEvent('download'), page.click(sel)]);
    assert.ok(dl.suggestedFilename().endsWith(ext), dl.suggestedFilename());
    const chunks = [];
    for await (const c of await dl.createReadStream()) chunks.push(c);
    assert.match(Buffer.concat(chunks).toString('utf8'), new RegExp(made.login));
  }
  await page.click('[data-test=verify-again]');
  await page.waitForSelector('[data-test=verify][data-intact=true]');

  await page.click('[data-test=lang]');
  await page.click('.toggle');
  await page.setViewportSize(h.PHONE);
  await h.settle(page);
  assert.match(await page.textContent('[data-test=verify]'), /intact/);
  assert.equal(await h.scrollsSideways(page), false);
  await h.axe(page, '/admin/audit (phone, English, elder)');
  await h.shot(page, 'admin-audit-phone-elder-en');
  for (const p of ['/admin', '/admin/org', '/admin/items', '/admin/security']) {
    await h.visit(page, p);
    assert.equal(await h.scrollsSideways(page), false, p);
  }
  await context.close();
});
