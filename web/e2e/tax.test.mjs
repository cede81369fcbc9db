// The tax pages in a real browser: a tax officer registers an enterprise as a taxpayer
// (a bad USCC named beside its field first); the enterprise sees it under 我的税务 with
// its filing calendar, files a one-step zero declaration and a small-scale VAT
// declaration, each after the server's preview and a confirmation; a second VAT
// declaration for the same period is refused with the period field named and a link to
// the first; a correction (更正申报) makes version 2 and marks version 1 corrected; the
// core tax system (the simulated back-end) accepts it.  axe-core on every page visited,
// no sideways scroll at 375 px; screenshots build/screenshots/tax-*.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as h from './helpers.mjs';

let srv, browser;

// A valid GB 32100 unified social credit code (check character computed).
function uscc(seed) {
  const A = '0123456789ABCDEFGHJKLMNPQRTUWXY';
  const W = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];
  const body = `91350100${String(seed).padStart(9, '0')}`;
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += A.indexOf(body[i]) * W[i];
  return body + A[(31 - (sum % 31)) % 31];
}
// The server's today (Asia/Shanghai) as YYYY-MM-DD, the last ended quarter and month.
const today = new Date(h.calendarToday() * 86400000).toISOString().slice(0, 10);
const [Y, M] = today.split('-').map(Number);
const lastQ = M <= 3 ? { p: `${Y - 1}Q4`, start: `${Y - 1}-10-01` } : { p: `${Y}Q${Math.floor((M - 1) / 3)}`, start: `${Y}-${String(Math.floor((M - 1) / 3) * 3 - 2).padStart(2, '0')}-01` };
const lastM = M === 1 ? `${Y - 1}-12` : `${Y}-${String(M - 1).padStart(2, '0')}`;

before(async () => {
  srv = await h.startServer();
  browser = await h.launch();
  srv.sec = await h.adminApi(srv, 'secadmin');
  await srv.sec.call('PUT', '/admin/roles/tax_officer', { name: '税源管理员', scope: 'subtree', permissions: ['tax.manage', 'tax.read'] });
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
async function narrow(page, path) {
  await page.setViewportSize(h.PHONE);
  await h.visit(page, path);
  assert.equal(await h.scrollsSideways(page), false, `${path} scrolls sideways at 375 px`);
  await page.setViewportSize(h.DESKTOP);
}
// An enterprise registered through the API (captcha, SMS code).
async function newEnterprise(code) {
  const c = h.apiClient(srv);
  const p = h.personData();
  const e = { ...p, login: `e${p.login}`, enterprise_name: `福州${p.login}科技有限公司`, uscc: code, legal_rep: p.name };
  const cap = await c.call('POST', '/captcha', {});
  await c.call('POST', '/sms/code', { purpose: 'register', mobile: p.mobile, captcha_id: cap.id, captcha: cap.answer });
  await c.call('POST', '/auth/register/enterprise', { ...e, sms_code: await srv.sms(p.mobile) });
  return e;
}
// Fill and preview on the declaration page; returns the preview's tax due text.
async function previewIt(page) {
  await page.click('[data-test=preview]');
  await page.waitForSelector('[data-test=decl-preview]');
  await h.settle(page);
  return (await page.textContent('[data-test=decl-preview] [data-test=r-tax_due_fen]')).trim();
}
async function submitIt(page) {
  await page.click('[data-test=decl-preview] [data-test=submit]');
  await confirmBox(page);
}

test('staff registers a taxpayer; the enterprise files zero and small-scale VAT declarations with a preview, is refused a duplicate, and corrects', async () => {
  const code = uscc(Math.floor(Math.random() * 1e9));
  const ent = await newEnterprise(code);

  // the tax officer registers the enterprise
  const s = await h.newStaff(srv, { deptCode: 'TAX-YZ', roles: ['tax_officer'] });
  const { context: sctx, page: sp } = await h.openPage(browser, srv);
  await h.firstLoginUI(sp, s.login, s.one_time_password, { digest: 'SM3', landing: '/workbench' });
  await sp.click('nav.menu a[href="/workbench/taxpayers"]');
  await sp.waitForSelector('[data-test=tp-form]');
  await h.settle(sp);
  await h.axe(sp, '/workbench/taxpayers');
  await sp.fill('[data-test=tp-uscc]', code.slice(0, 17) + (code[17] === '0' ? '1' : '0')); // a wrong check character
  await sp.fill('[data-test=tp-name]', ent.enterprise_name);
  await sp.fill('[data-test=tp-office]', 'TAX-YZ');
  await sp.click('[data-test=vat-small]');
  await sp.click('[data-test=reg-vat-quarterly]');
  await sp.click('[data-test=reg-cit-quarterly]');
  for (const x of ['vat', 'cit', 'iit']) await sp.fill(`[data-test=reg-${x}-since]`, lastQ.start);
  await sp.click('[data-test=tp-submit]');
  await confirmBox(sp);
  await sp.waitForSelector('[data-test=tp-form] .el-form-item__error');
  assert.match(await sp.textContent('[data-test=tp-form] .el-form-item.is-error'), /统一社会信用代码[\s\S]*check character/);
  await h.axe(sp, 'taxpayer form with a field error');
  await sp.fill('[data-test=tp-uscc]', code);
  await sp.click('[data-test=tp-submit]');
  await confirmBox(sp);
  await sp.waitForSelector('[data-test=tp-made]');
  const tpId = Number((await sp.textContent('[data-test=tp-made]')).match(/编号 (\d+)/)[1]);
  assert.ok(tpId > 0);
  assert.match(await sp.textContent('[data-test=tp-made]'), /已关联办事账户/);
  await sp.fill('[data-test=tp-lookup-id]', String(tpId));
  await sp.click('[data-test=tp-lookup-go]');
  await sp.waitForSelector('[data-test=tp-found]');
  assert.match(await sp.textContent('[data-test=tp-found]'), new RegExp(code));
  await h.shot(sp, 'tax-staff-register');
  await narrow(sp, '/workbench/taxpayers');
  await sctx.close();

  // the enterprise: 我的税务 → the taxpayer's calendar
  const { context, page } = await h.openPage(browser, srv);
  await h.loginUI(page, ent.login, ent.password);
  await page.waitForURL((u) => u.pathname !== '/login');
  await page.click('nav.menu a[href="/tax"]');
  await page.waitForSelector(`[data-test=tp-${tpId}]`);
  await h.settle(page);
  await h.axe(page, '/tax');
  assert.match(await page.textContent('[data-test=taxpayers]'), /可申报/);
  await h.shot(page, 'tax-mine');
  await page.click(`[data-test=tp-${tpId}]`);
  await page.waitForSelector('[data-test=filings]');
  await h.settle(page);
  await h.axe(page, `/tax/${tpId}`);
  const vatRow = `[data-test=filing-vat-${lastQ.p}]`;
  assert.match(await page.getAttribute(vatRow, 'data-state'), /^(outstanding|overdue)$/);
  assert.match(await page.textContent(vatRow), /申报期限 \d{4}-\d{2}-\d{2}/);
  const before = Number((await page.textContent('[data-test=outstanding]')).match(/未申报 (\d+) 项/)[1]);
  assert.ok(before >= 3, `outstanding filings: ${before}`);
  await h.shot(page, 'tax-calendar');

  // a one-step zero declaration for last month's IIT withholding
  await page.click(`[data-test=file-iit-${lastM}]`);
  await page.waitForSelector('[data-test=decl-form]');
  await h.settle(page);
  await h.axe(page, 'declare (IIT)');
  assert.equal(await page.inputValue('[data-test=period]'), lastM);
  await page.click('[data-test=form-zero]');
  assert.match(await page.textContent('[data-test=step-note]'), /第 1 步/);
  assert.equal(await previewIt(page), '0.00');
  assert.match(await page.textContent('[data-test=step-note]'), /第 2 步/);
  assert.match(await page.textContent('[data-test=decl-preview]'), /零申报/);
  await h.axe(page, 'zero declaration preview');
  await submitIt(page);
  await page.waitForSelector('[data-test=decl-done]');
  assert.match(await page.textContent('[data-test=decl-done]'), /#\d+（第 1 版），状态：已提交/);

  // small-scale VAT for the last quarter: 400,000 yuan is above the 300,000 exemption → 1 %
  await h.visit(page, `/tax/${tpId}/declare?tax=vat&period=${lastQ.p}`);
  assert.ok(await page.isChecked('[data-test=form-vat_small] input'));
  await page.fill('[data-test=vs-amount]', '40万'); // not an amount: refused before anything is sent
  await page.click('[data-test=preview]');
  await page.waitForSelector('[data-test=decl-form] .el-form-item__error');
  assert.match(await page.textContent('[data-test=decl-form] .el-form-item__error'), /最多两位小数/);
  await page.fill('[data-test=vs-amount]', '400000');
  assert.equal(await previewIt(page), '4,000.00');
  assert.match(await page.textContent('[data-test=decl-preview] [data-test=r-rate_bp]'), /^1%$/);
  await h.shot(page, 'tax-vat-preview');
  await page.click('[data-test=back]'); // back to the form keeps what was typed
  assert.equal(await page.inputValue('[data-test=vs-amount]'), '400000');
  await previewIt(page);
  await submitIt(page);
  await page.waitForSelector('[data-test=decl-done]');
  const vatId = Number(await page.getAttribute('[data-test=to-decl]', 'href').then((u) => u.split('/').pop()));
  assert.ok(vatId > 0);
  await h.shot(page, 'tax-vat-done');

  // the same tax and period again: refused, the period named, the first one linked
  await h.visit(page, `/tax/${tpId}/declare?tax=vat&period=${lastQ.p}`);
  await page.fill('[data-test=vs-amount]', '1000');
  await previewIt(page);
  await submitIt(page);
  await page.waitForSelector('[data-test=dup]');
  await page.waitForSelector('[data-test=decl-form] .el-form-item__error');
  assert.match(await page.textContent('[data-test=decl-form] .el-form-item.is-error'), /所属期[\s\S]*declared already/);
  assert.equal(await page.getAttribute('[data-test=dup-link]', 'href'), `/tax/declarations/${vatId}`);
  await h.axe(page, 'duplicate refused');
  await h.shot(page, 'tax-duplicate');

  // the correction: version 2 with 500,000 yuan; version 1 is kept, marked corrected
  await page.click('[data-test=dup-link]');
  await page.waitForSelector('[data-test=versions]');
  await h.settle(page);
  await h.axe(page, `/tax/declarations/${vatId}`);
  await page.click('[data-test=correct]');
  await page.waitForSelector('[data-test=correcting]');
  await h.settle(page);
  await h.axe(page, 'correction form');
  assert.equal(await page.inputValue('[data-test=vs-amount]'), '400000.00');
  await page.fill('[data-test=vs-amount]', '500000');
  assert.equal(await previewIt(page), '5,000.00');
  await submitIt(page);
  await page.waitForSelector('[data-test=decl-done]');
  assert.match(await page.textContent('[data-test=decl-done]'), /第 2 版/);
  await page.click('[data-test=to-decl]');
  await page.waitForSelector('[data-test=versions]');
  await h.settle(page);
  const v1 = `[data-test=versions] li[data-id="${vatId}"]`;
  assert.equal(await page.getAttribute(v1, 'data-status'), 'corrected');
  assert.equal(await page.locator('[data-test=versions] li').count(), 2);
  assert.match(await page.textContent('[data-test=decl-data]'), /500,000\.00/);
  // the core tax system (simulated) accepts the new version
  const v2 = Number(new URL(page.url()).pathname.split('/').pop());
  for (let i = 0; i < 100; i++) {
    const d = await page.evaluate(async (u) => (await fetch(u)).json(), `/api/v1/tax/declarations/${v2}`);
    if (d.status === 'accepted') break;
    await new Promise((r) => setTimeout(r, 200));
  }
  await page.reload();
  await h.settle(page);
  assert.equal(await page.getAttribute('[data-test=decl-status]', 'data-status'), 'accepted');
  assert.ok((await page.textContent('[data-test=reference]')).trim().length > 0);
  await h.axe(page, 'declaration accepted');
  await h.shot(page, 'tax-declaration');

  // the calendar now shows both filed; the list shows both versions
  await h.visit(page, `/tax/${tpId}`);
  assert.equal(await page.getAttribute(vatRow, 'data-state'), 'filed');
  assert.equal(await page.getAttribute(`[data-test=filing-iit-${lastM}]`, 'data-state'), 'filed');
  const after = Number((await page.textContent('[data-test=outstanding]')).match(/未申报 (\d+) 项/)[1]);
  assert.equal(after, before - 2);
  assert.equal(await page.getAttribute(`[data-test=declarations] li[data-id="${vatId}"]`, 'data-status'), 'corrected');
  for (const p of ['/tax', `/tax/${tpId}`, `/tax/${tpId}/declare?tax=vat`, `/tax/declarations/${v2}`]) await narrow(page, p);
  await context.close();
});

test('the general VAT, CIT prepayment and IIT withholding forms: computed by the server before submitting', async () => {
  const code = uscc(Math.floor(Math.random() * 1e9));
  const ent = await newEnterprise(code);
  const officer = await h.staffApi(srv, await h.newStaff(srv, { deptCode: 'TAX-YZ', roles: ['tax_officer'] }));
  const { id: tpId } = await officer.call('POST', '/tax/taxpayers', {
    kind: 'enterprise', uscc: code, name: ent.enterprise_name, vat_status: 'general', office: 'TAX-YZ', credit: 'A',
    registrations: [{ tax: 'vat', period: 'monthly', since: lastQ.start }, { tax: 'cit', period: 'quarterly', since: lastQ.start }, { tax: 'iit', period: 'monthly', since: lastQ.start }],
  });
  const { context, page } = await h.openPage(browser, srv);
  await h.loginUI(page, ent.login, ent.password);
  await page.waitForURL((u) => u.pathname !== '/login');

  // general VAT: 100,000 at 13 % and 10,000 at 6 % less 5,000 input tax = 8,600
  await h.visit(page, `/tax/${tpId}/declare?tax=vat&period=${lastM}`);
  assert.ok(await page.isChecked('[data-test=form-vat_general] input'));
  await page.fill('[data-test=vg-sales-0]', '100000');
  await page.click('[data-test=vg-add]');
  await page.click('[data-test=vg-rate-1-6]');
  await page.fill('[data-test=vg-sales-1]', '10000');
  await page.fill('[data-test=vg-input]', '5000');
  await h.axe(page, 'general VAT form');
  assert.equal(await previewIt(page), '8,600.00');
  assert.equal((await page.textContent('[data-test=r-output_tax_fen]')).trim(), '13,600.00');
  await h.shot(page, 'tax-vat-general-preview');
  await submitIt(page);
  await page.waitForSelector('[data-test=decl-done]');

  // CIT prepayment, small low-profit: 200,000 × 25 % × 20 % = 10,000 (previewed only)
  await h.visit(page, `/tax/${tpId}/declare?tax=cit&period=${lastQ.p}`);
  for (const [k, v] of [['revenue', '1000000'], ['cost', '800000'], ['profit', '200000'], ['employees', '10'], ['assets', '5000000']]) await page.fill(`[data-test=cit-${k}]`, v);
  await h.axe(page, 'CIT form');
  assert.equal(await previewIt(page), '10,000.00');
  assert.equal((await page.textContent('[data-test=r-small_low_profit]')).trim(), '是');
  // a server field error beside its field: profit above revenue
  await page.click('[data-test=back]');
  await page.fill('[data-test=cit-profit]', '2000000');
  await page.click('[data-test=preview]');
  await page.waitForSelector('[data-test=decl-form] .el-form-item__error');
  assert.match(await page.textContent('[data-test=decl-form] .el-form-item.is-error'), /利润总额[\s\S]*profit above revenue/);

  // IIT withholding, the first month: 30,000 − 5,000 − 4,500 − 2,000 = 18,500 at 3 % = 555
  await h.visit(page, `/tax/${tpId}/declare?tax=iit&period=${lastM}`);
  assert.ok(await page.isChecked('[data-test=form-iit_withhold] input'));
  const row = { employee: 'E001', id_number: h.idNumber(7), name: '王小明', income: '30000', special: '4500', additional: '2000' };
  for (const [k, v] of Object.entries(row)) await page.fill(`[data-test=iit-0-${k}]`, v);
  await h.axe(page, 'IIT form');
  assert.equal(await previewIt(page), '555.00');
  assert.match(await page.textContent('[data-test=tax-result]'), /E001[\s\S]*18,500\.00[\s\S]*3%[\s\S]*555\.00/);
  await h.shot(page, 'tax-iit-preview');
  await submitIt(page);
  await page.waitForSelector('[data-test=decl-done]');
  await narrow(page, `/tax/${tpId}/declare?tax=iit`);
  await context.close();
});
