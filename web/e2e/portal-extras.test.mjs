// The portal's extras in a real browser: the system administrator publishes, edits and
// withdraws notices (通知公告) and the portal's home and notice pages show the current
// ones; a person's materials library (我的材料) with preview and delete; a clerk transfers
// a case to a colleague picked from a list; the security administrator finds an account
// and picks it instead of typing its number; and the router's page views reach the
// statistics.  axe-core on every page visited, and no sideways scroll at 375 px.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as h from './helpers.mjs';

let srv, browser;
before(async () => {
  srv = await h.startServer();
  browser = await h.launch();
  srv.sys = await h.adminApiKeeping(srv, 'sysadmin');
  srv.sec = await h.adminApiKeeping(srv, 'secadmin');
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
async function narrow(page, path) {
  await page.setViewportSize(h.PHONE);
  await h.visit(page, path);
  assert.equal(await h.scrollsSideways(page), false, `${path} scrolls sideways at 375 px`);
  await page.setViewportSize(h.DESKTOP);
}

test('notices: published, edited and withdrawn by the system administrator; current ones on the portal', async () => {
  const { context, page } = await h.openPage(browser, srv);
  await h.adminLoginUI(page, srv, 'sysadmin');
  await page.click('[data-test=page-notices]');
  await page.waitForSelector('[data-test=notice-form]');
  await h.settle(page);
  await h.axe(page, '/admin/notices');

  // an empty title is named beside its field, after the confirmation
  await page.fill('[data-test=an-body]', '正文');
  await page.click('[data-test=an-submit]');
  await confirmBox(page);
  await page.waitForSelector('[data-test=notice-form] .el-form-item__error');

  const publishOne = async (title, body, category) => {
    await page.fill('[data-test=an-title]', title);
    await page.fill('[data-test=an-body]', body);
    await pick(page, '[data-test=an-category]', category);
    await page.click('[data-test=an-submit]');
    await confirmBox(page);
    await page.waitForSelector(`[data-test=an-list] li:has-text("${title}")`);
  };
  await publishOne('春节期间服务时间调整', '2月10日至17日网上办理照常。\n窗口服务暂停。', '通知');
  await publishOne('系统维护预告', '周六凌晨维护两小时。', '系统维护');
  const idOf = (title) => page.locator('[data-test=an-list] li', { hasText: title }).first().getAttribute('data-id');
  const first = await idOf('春节期间服务时间调整');
  const second = await idOf('系统维护预告');

  // edit the first: the form takes its whole text, saving makes version 2
  await page.click(`[data-test=an-edit-${first}]`);
  assert.equal(await page.inputValue('[data-test=an-body]'), '2月10日至17日网上办理照常。\n窗口服务暂停。');
  await page.fill('[data-test=an-title]', '春节期间服务时间调整（更新）');
  await page.click('[data-test=an-submit]');
  await h.settle(page);
  await page.waitForSelector(`[data-test=an-list] li[data-id="${first}"]:has-text("（更新）")`);
  assert.match(await page.textContent(`[data-test=an-list] li[data-id="${first}"]`), /第 2 版/);

  // withdraw the second, after the confirmation
  await page.click(`[data-test=an-withdraw-${second}]`);
  await confirmBox(page);
  await page.waitForSelector(`[data-test=an-list] li[data-id="${second}"][data-status=withdrawn]`);
  await h.axe(page, '/admin/notices (after changes)');
  await h.shot(page, 'admin-notices');
  await narrow(page, '/admin/notices');
  await context.close();

  // the public: the home page lists the current notice only
  const anon = await h.openPage(browser, srv);
  const p = anon.page;
  await h.visit(p, '/');
  await p.waitForSelector('[data-test=home-notices]');
  const home = await p.textContent('[data-test=home-notices]');
  assert.match(home, /春节期间服务时间调整（更新）/);
  assert.doesNotMatch(home, /系统维护预告/);
  await p.click('[data-test=home-notices] a:has-text("春节期间")');
  await p.waitForURL((u) => u.pathname === `/notices/${first}`);
  await h.settle(p);
  await h.axe(p, '/notices/{id}');
  assert.equal(await p.textContent('[data-test=notice-body]'), '2月10日至17日网上办理照常。\n窗口服务暂停。');
  await h.shot(p, 'notice');
  await h.visit(p, '/notices');
  assert.equal(await p.locator('[data-test=notices] li').count(), 1);
  await h.visit(p, `/notices/${second}`);
  await p.waitForSelector('[data-test=notice-gone]');
  for (const path of ['/', '/notices', `/notices/${first}`]) await narrow(p, path);
  await anon.context.close();
});

test('my materials: preview an image, download, delete with confirmation', async () => {
  const person = await h.newPerson(srv);
  const api = await h.accountApi(srv, person.login);
  const png = await api.upload('户口本首页.png', h.smallPng());
  const pdf = await api.upload('学历证明.pdf', h.smallPdf('diploma'));
  const { context, page } = await h.openPage(browser, srv);
  await h.loginUI(page, person.login, person.password);
  await page.click('nav.menu >> text=我的材料');
  await page.waitForURL((u) => u.pathname === '/materials');
  await h.settle(page);
  await h.axe(page, '/materials');
  assert.equal(await page.locator('[data-test=mat-list] li').count(), 2);
  assert.match(await page.textContent('[data-test=mat-count]'), /共 2 份/);

  // an image previews in the page
  await page.click(`[data-test=mat-preview-${png.id}]`);
  await page.waitForSelector('[data-test=mat-image]');
  await page.waitForFunction(() => document.querySelector('[data-test=mat-image]').naturalWidth > 0);
  await h.axe(page, '/materials (preview)');
  await page.keyboard.press('Escape');
  await page.waitForSelector('[data-test=mat-image]', { state: 'detached' });
  // the download link is the library's content, as an attachment
  assert.equal(await page.getAttribute(`[data-test=mat-download-${pdf.id}]`, 'href'), `/api/v1/materials/${pdf.id}/content`);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click(`[data-test=mat-download-${pdf.id}]`)]);
  assert.equal(download.suggestedFilename(), '学历证明.pdf');

  // delete asks first; cancelling keeps it
  await page.click(`[data-test=mat-delete-${pdf.id}]`);
  await page.waitForSelector('.el-message-box');
  await page.click('.el-message-box .el-button:not(.el-button--primary)');
  await page.waitForSelector('.el-message-box', { state: 'hidden' });
  assert.equal(await page.locator('[data-test=mat-list] li').count(), 2);
  await page.click(`[data-test=mat-delete-${pdf.id}]`);
  await confirmBox(page);
  await page.waitForSelector(`[data-test=mat-list] li[data-id="${pdf.id}"]`, { state: 'detached' });
  const lib = await api.call('GET', '/materials');
  assert.deepEqual(lib.materials.map((m) => m.id), [png.id]);
  await h.shot(page, 'materials');
  await narrow(page, '/materials');
  await context.close();
});

test('a clerk transfers a case to a colleague picked from a list', async () => {
  const person = await h.newPerson(srv);
  const ap = await h.accountApi(srv, person.login);
  const made = await ap.call('POST', '/cases', { item: 'GA-HJ-0003', form: { purpose: 'former_name', copies: 1 }, submit: true });
  for (let i = 0; i < 100; i++) {
    const k = await ap.call('GET', `/cases/${made.id}`);
    if (k.precheck === 'passed') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const clerk = await h.newStaff(srv, { deptCode: 'PSB-YZ-HJ', roles: ['hj_clerk'] });
  const mate = await h.newStaff(srv, { deptCode: 'PSB-YZ-HJ', roles: ['hj_clerk'] });
  const other = await h.newStaff(srv, { deptCode: 'PSB-YZ-HJ', roles: ['hj_reviewer'] });
  const mateApi = await h.staffApi(srv, mate);
  const mateId = (await mateApi.call('GET', '/account')).id;

  const { context, page } = await h.openPage(browser, srv);
  await h.firstLoginUI(page, clerk.login, clerk.one_time_password, { landing: '/workbench' });
  await h.visit(page, `/workbench/cases/${made.id}`);
  await page.click('[data-test=act-sign]');
  await h.settle(page);
  await page.click('[data-test=act-transfer]');
  await h.settle(page);
  await h.axe(page, '/workbench/cases/{id} (transfer)');
  // without a choice the form says what is missing
  await page.click('[data-test=act-submit]');
  await page.waitForSelector('[data-test=act-form] .el-form-item__error');
  // the list holds the colleague with the step's role, not the reviewer
  await page.click('[data-test=to] .el-select__wrapper');
  await page.waitForSelector('.el-select-dropdown__item:visible');
  const options = await page.locator('.el-select-dropdown__item:visible').allTextContents();
  assert.equal(options.length, 1, options.join(' | '));
  assert.match(options[0], new RegExp(mate.login));
  assert.doesNotMatch(options.join(' '), new RegExp(`${other.login}|${clerk.login}`));
  await page.locator('.el-select-dropdown__item:visible').first().click();
  await page.keyboard.press('Escape');
  await page.fill('[data-test=opinion]', '请同事接办');
  await page.click('[data-test=act-submit]');
  await h.settle(page);
  await page.waitForSelector('.el-message--success');
  const k = await mateApi.call('GET', `/cases/${made.id}`);
  assert.equal(k.assignee, mateId);
  await h.shot(page, 'transfer');
  await context.close();
});

test('the security administrator finds an account and picks it', async () => {
  const person = await h.newPerson(srv);
  const { context, page } = await h.openPage(browser, srv);
  await h.adminLoginUI(page, srv, 'secadmin');
  await page.click('[data-test=page-security]');
  await page.waitForSelector('[data-test=find-form]');
  await h.settle(page);
  // by the start of the login
  await page.fill('[data-test=find-q]', person.login.slice(0, 5));
  await page.click('[data-test=find-submit]');
  await page.waitForSelector(`[data-test=find-results] li[data-login="${person.login}"]`);
  await h.axe(page, '/admin/security (search)');
  // by the whole mobile number: exactly that person
  await page.fill('[data-test=find-q]', person.mobile);
  await page.click('[data-test=find-submit]');
  await h.settle(page);
  assert.equal(await page.locator('[data-test=find-results] li').count(), 1);
  await page.click(`[data-test=pick-${person.login}]`);
  await page.waitForSelector('[data-test=picked]');
  const id = await page.inputValue('[data-test=unlock-id]');
  assert.match(id, /^\d+$/);
  assert.equal(await page.inputValue('[data-test=assign-id]'), id);
  assert.match(await page.textContent('[data-test=picked]'), new RegExp(`${person.login}.*#${id}`));
  // and unlock the picked account, after the confirmation
  await page.click('[data-test=unlock]');
  await confirmBox(page);
  await page.waitForSelector('.el-message--success');
  // nothing found is said so
  await page.fill('[data-test=find-q]', 'zz-nobody');
  await page.click('[data-test=find-submit]');
  await page.waitForSelector('[data-test=find-none]');
  await h.shot(page, 'admin-security-search');
  await narrow(page, '/admin/security');
  await context.close();
});

test('the router sends a page view for each page shown, with its dwell time', async () => {
  const { context, page } = await h.openPage(browser, srv);
  await h.visit(page, '/');
  await page.waitForTimeout(300);
  await page.click('a:has-text("查看全部事项")');
  await page.waitForURL((u) => u.pathname === '/items');
  await h.settle(page);
  await page.click('[data-test=brand]');
  await page.waitForURL((u) => u.pathname === '/');
  await h.settle(page);
  const visit = await page.evaluate(() => sessionStorage.getItem('ehall.visit'));
  assert.match(visit, /^v-[0-9a-f]{24}$/);
  let rows = [];
  for (let i = 0; i < 50 && rows.length < 2; i++) {
    rows = h.sql(srv, `SELECT path || '|' || COALESCE(referrer, '') || '|' || dwell_ms FROM page_view WHERE visit = '${visit}' ORDER BY id`).trim().split('\n').filter(Boolean);
    if (rows.length < 2) await page.waitForTimeout(100);
  }
  assert.equal(rows.length, 2, rows.join('\n'));
  const [home, items] = rows.map((r) => r.split('|'));
  assert.equal(home[0], '/');
  assert.ok(Number(home[2]) >= 300, `dwell ${home[2]}`);
  assert.deepEqual(items.slice(0, 2), ['/items', '/']);
  // the search words of a query never leave the browser as a path
  await page.fill('[data-test=search]', '出生');
  await page.click('button.search-btn');
  await page.waitForURL((u) => u.pathname === '/items');
  await h.settle(page);
  await page.click('[data-test=brand]');
  await h.settle(page);
  await page.waitForTimeout(300);
  const paths = h.sql(srv, `SELECT path FROM page_view WHERE visit = '${visit}'`);
  assert.doesNotMatch(paths, /出生|\?/);
  await context.close();
});
