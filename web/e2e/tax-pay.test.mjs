// The tax payment and invoice pages in a real browser.  Payment: an enterprise whose
// small-scale VAT declaration (5,000.00 due) the core tax system accepted registers a
// three-party agreement (an account the bank does not know refused under its field
// first), pays from the declaration page after a confirmation naming amount and
// account, follows the payment until the treasury answers, reads the electronic payment
// voucher, has the tax payment certificate issued and opens its public verification.
// Invoices: a seller without a quota is told how to get one; with one it issues an
// e-invoice whose amounts are shown before the confirmation; the public verification
// page (a fresh context, no log-in, phone-sized) finds it by number, date, total and
// check code and says 查无此票 for a wrong check code; the seller reverses it (confirmed)
// and the public page then shows it reversed; the public taxpayer lookup shows the
// published A rating; a burst of look-ups is answered "try again in N seconds".
// Signing: an enterprise that registered the public key of an SM2 key made by the openssl
// CLI signs a zero declaration in the browser on the preview (a public key file, then an
// unregistered key, are refused beside the key field first); the private key never
// leaves the browser and the declaration is recorded as signed.
// axe-core on every page, no sideways scroll at 375 px; screenshots build/screenshots/taxpay-*.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as h from './helpers.mjs';

let srv, browser, officer;

// A valid GB 32100 unified social credit code (check character computed).
function uscc(seed) {
  const A = '0123456789ABCDEFGHJKLMNPQRTUWXY';
  const W = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];
  const body = `91350100${String(seed).padStart(9, '0')}`;
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += A.indexOf(body[i]) * W[i];
  return body + A[(31 - (sum % 31)) % 31];
}
const today = new Date(h.calendarToday() * 86400000).toISOString().slice(0, 10);
const [Y, M] = today.split('-').map(Number);
const lastQ = M <= 3 ? { p: `${Y - 1}Q4`, start: `${Y - 1}-10-01` } : { p: `${Y}Q${Math.floor((M - 1) / 3)}`, start: `${Y}-${String(Math.floor((M - 1) / 3) * 3 - 2).padStart(2, '0')}-01` };

before(async () => {
  srv = await h.startServer();
  browser = await h.launch();
  srv.sec = await h.adminApi(srv, 'secadmin');
  await srv.sec.call('PUT', '/admin/roles/tax_officer', { name: '税源管理员', scope: 'subtree', permissions: ['tax.manage', 'tax.read'] });
  officer = await h.staffApi(srv, await h.newStaff(srv, { deptCode: 'TAX-YZ', roles: ['tax_officer'] }));
});
after(async () => {
  await browser?.close();
  await srv?.stop();
});

const confirmBox = async (page) => {
  await page.waitForSelector('.el-message-box');
  const text = await page.textContent('.el-message-box');
  await page.click('.el-message-box .el-button--primary');
  await page.waitForSelector('.el-message-box', { state: 'hidden' });
  await h.settle(page);
  return text;
};
async function narrow(page, path) {
  await page.setViewportSize(h.PHONE);
  await h.visit(page, path);
  assert.equal(await h.scrollsSideways(page), false, `${path} scrolls sideways at 375 px`);
  await page.setViewportSize(h.DESKTOP);
}
// An enterprise registered through the API and made a taxpayer by the tax officer.
async function newTaxpayer({ vat = 'small', credit = 'B' } = {}) {
  const code = uscc(Math.floor(Math.random() * 1e9));
  const c = h.apiClient(srv);
  const p = h.personData();
  const e = { ...p, login: `e${p.login}`, enterprise_name: `福州${p.login}贸易有限公司`, uscc: code, legal_rep: p.name };
  const cap = await c.call('POST', '/captcha', {});
  await c.call('POST', '/sms/code', { purpose: 'register', mobile: p.mobile, captcha_id: cap.id, captcha: cap.answer });
  await c.call('POST', '/auth/register/enterprise', { ...e, sms_code: await srv.sms(p.mobile) });
  const { id } = await officer.call('POST', '/tax/taxpayers', {
    kind: 'enterprise', uscc: code, name: e.enterprise_name, vat_status: vat, office: 'TAX-YZ', credit,
    registrations: [{ tax: 'vat', period: 'quarterly', since: lastQ.start }],
  });
  return { ...e, tpId: id };
}
async function loggedIn(ent) {
  const { context, page } = await h.openPage(browser, srv);
  await h.loginUI(page, ent.login, ent.password);
  await page.waitForURL((u) => u.pathname !== '/login');
  return { context, page };
}

test('an accepted declaration is paid under a three-party agreement; the voucher and the certificate', async () => {
  const ent = await newTaxpayer();
  // the declaration (not what this test is about: through the API), accepted by the core tax system
  const api = await h.accountApi(srv, ent.login, ent.password);
  const d = await api.call('POST', '/tax/declarations', { taxpayer: ent.tpId, tax: 'vat', form: 'vat_small', period: lastQ.p, data: { sales_fen: 50000000 } });
  for (let i = 0; i < 150 && (await api.call('GET', `/tax/declarations/${d.id}`)).status !== 'accepted'; i++) await new Promise((r) => setTimeout(r, 200));
  assert.equal((await api.call('GET', `/tax/declarations/${d.id}`)).status, 'accepted');

  const { context, page } = await loggedIn(ent);
  // no agreement yet: the pay section says what to do
  await h.visit(page, `/tax/declarations/${d.id}`);
  assert.equal((await page.textContent('[data-test=pay-due]')).trim(), '5,000.00');
  await page.waitForSelector('[data-test=pay-no-agreement]');

  // the agreement: an account the bank does not know is refused under its field
  await h.visit(page, `/tax/${ent.tpId}`);
  await page.waitForSelector('[data-test=agreements-none]');
  assert.equal(await page.inputValue('[data-test=agr-account_name]'), ent.enterprise_name);
  await page.fill('[data-test=agr-bank_code]', '102');
  await page.fill('[data-test=agr-bank_name]', '工商银行福州分行');
  await page.fill('[data-test=agr-account_no]', '6222020000');
  await page.click('[data-test=agr-submit]');
  await page.waitForSelector('[data-test=agreement-form] .el-form-item__error');
  assert.match(await page.textContent('[data-test=agreement-form] .el-form-item.is-error'), /银行账号[\s\S]*treasury refuses/);
  await h.axe(page, 'agreement refused');
  await page.fill('[data-test=agr-account_no]', '6222021234567');
  await page.click('[data-test=agr-submit]');
  await page.waitForSelector('[data-test=agreement-made]');
  assert.match(await page.textContent('[data-test=agreement-made]'), /SFXY-/);
  assert.match(await page.textContent('[data-test=agreement][data-status=verified]'), /\*\*\*\*4567/);
  await h.axe(page, 'agreement registered');
  await h.shot(page, 'taxpay-agreement');

  // pay: the confirmation names amount and account; progress until the treasury answers
  await h.visit(page, `/tax/declarations/${d.id}`);
  await page.click('[data-test=pay-go]');
  const asked = await confirmBox(page);
  assert.match(asked, /5,000\.00/);
  assert.match(asked, /\*\*\*\*4567/);
  await page.waitForSelector('[data-test=pay-state]');
  await page.waitForSelector('[data-test=pay-state][data-status=paid]', { timeout: 30000 });
  assert.equal(await page.locator('[data-test=pay-go]').count(), 0, 'a paid declaration offers no second payment');
  await h.axe(page, 'paid');
  await h.shot(page, 'taxpay-paid');

  // the voucher
  await page.click('[data-test=to-payment]');
  await page.waitForSelector('[data-test=voucher]');
  await h.settle(page);
  await h.axe(page, 'payment page');
  assert.match(await page.textContent('[data-test=voucher] [data-field=voucher_no]'), /^PZ\d{18}$/);
  assert.equal((await page.textContent('[data-test=voucher] [data-field=amount_fen]')).trim(), '5,000.00');
  assert.equal((await page.textContent('[data-test=voucher] [data-field=taxpayer_name]')).trim(), ent.enterprise_name);
  assert.match(await page.textContent('[data-test=voucher] [data-field=account_no]'), /\*\*\*\*4567/);
  const paymentPath = new URL(page.url()).pathname;
  // the tax payment certificate: an e-licence, in the wallet and publicly verifiable
  await page.click('[data-test=cert-go]');
  await page.waitForSelector('[data-test=cert-links]');
  const lic = (await page.getAttribute('[data-test=cert-wallet]', 'href')).split('/').pop();
  assert.match(decodeURIComponent(lic), /^WSZM-/);
  assert.equal(await page.getAttribute('[data-test=cert-verify]', 'href'), `/verify/licence/${lic}`);
  await h.axe(page, 'certificate issued');
  await h.shot(page, 'taxpay-voucher');
  await page.click('[data-test=cert-verify]');
  await page.waitForSelector('[data-test=vl-result]');
  await h.settle(page);
  assert.equal(await page.getAttribute('[data-test=vl-result]', 'data-status'), 'valid');
  await h.axe(page, 'certificate verification');

  // the taxpayer's page lists the payment
  await h.visit(page, `/tax/${ent.tpId}`);
  assert.equal(await page.getAttribute('[data-test=payments] li', 'data-status'), 'paid');
  for (const p of [`/tax/${ent.tpId}`, `/tax/declarations/${d.id}`, paymentPath]) await narrow(page, p);
  await context.close();
});

test('an e-invoice: quota, issue, public verification, red-letter reversal; the public taxpayer lookup', async () => {
  const ent = await newTaxpayer({ credit: 'A' });
  const { context, page } = await loggedIn(ent);
  await h.visit(page, `/tax/${ent.tpId}`);
  await page.click('[data-test=new-invoice]');
  await page.waitForSelector('[data-test=invoice-form]');
  await h.settle(page);
  await h.axe(page, 'invoice form');
  await page.fill('[data-test=inv-buyer]', '福州买方有限公司');
  await page.fill('[data-test=inv-0-name]', '办公用品');
  await page.fill('[data-test=inv-0-qty]', '3');
  await page.fill('[data-test=inv-0-price]', '100');
  await page.click('[data-test=inv-0-rate-1]');
  await page.click('[data-test=inv-add]');
  await page.fill('[data-test=inv-1-name]', '咨询服务');
  await page.fill('[data-test=inv-1-qty]', '1');
  await page.fill('[data-test=inv-1-price]', '123.45');
  await page.click('[data-test=inv-1-rate-3]');
  // computed before submitting: 300.00 at 1 % + 123.45 at 3 % (3.7035 → 3.70)
  assert.match(await page.textContent('[data-test=inv-1-computed]'), /123\.45[\s\S]*3\.70/);
  assert.equal((await page.textContent('[data-test=inv-amount]')).trim(), '423.45');
  assert.equal((await page.textContent('[data-test=inv-tax]')).trim(), '6.70');
  assert.equal((await page.textContent('[data-test=inv-total]')).trim(), '430.15');
  await h.shot(page, 'taxpay-invoice-form');
  // no quota yet: said so, with the item that grants one
  await page.click('[data-test=inv-submit]');
  assert.match(await confirmBox(page), /430\.15/);
  await page.waitForSelector('[data-test=inv-quota][data-quota=none]');
  assert.equal(await page.getAttribute('[data-test=inv-quota-item]', 'href'), '/items/SW-FP-0001');
  await h.axe(page, 'no quota');
  // the invoice-quota item approved (planted, as test_tax_pay does): 1,000 yuan a month
  const ents = h.sql(srv, `SELECT id FROM enterprise WHERE uscc = '${ent.uscc}'`).trim();
  h.sql(srv, `INSERT INTO ecase(case_no, item_code, item_version, applicant, enterprise, state, form, created_ms, updated_ms, closed_ms) VALUES ('FP-E2E-${ents}', 'SW-FP-0001', 1, 1, ${ents}, 'result_issued', '{"requested_quota":100000,"current_quota":0}', 0, 0, 0)`);
  await page.click('[data-test=inv-submit]');
  await confirmBox(page);
  await page.waitForURL(/\/tax\/invoices\/\d+$/);
  await page.waitForSelector('[data-test=invoice-view]');
  await h.settle(page);
  await h.axe(page, 'invoice');
  const field = async (k) => (await page.textContent(`[data-test=invoice-view] [data-field=${k}]`)).trim();
  const inv = { number: await field('number'), check: await field('check_code'), date: await field('issue_date'), total: await field('total_fen') };
  assert.match(inv.number, /^\d{20}$/);
  assert.match(inv.check, /^\d{20}$/);
  assert.equal(inv.total, '430.15');
  assert.equal(await page.getAttribute('[data-test=inv-status]', 'data-status'), 'issued');
  const invPath = new URL(page.url()).pathname;
  await h.shot(page, 'taxpay-invoice');

  // public verification: a fresh context, no log-in, a phone
  const { context: pub, page: pp } = await h.openPage(browser, srv, { viewport: h.PHONE });
  const verify = async (check) => {
    await pp.fill('[data-test=vi-number]', inv.number);
    await pp.fill('[data-test=vi-date]', inv.date);
    await pp.fill('[data-test=vi-amount]', inv.total);
    await pp.fill('[data-test=vi-check_code]', check);
    await pp.click('[data-test=vi-check]');
    await pp.waitForSelector('[data-test=vi-result], [data-test=vi-error]');
    await h.settle(pp);
  };
  await h.visit(pp, '/');
  await pp.click('[data-test=home-verify-invoice]');
  await pp.waitForSelector('[data-test=vi-form]');
  await h.axe(pp, '/verify/invoice');
  await verify(inv.check.slice(-6));
  assert.equal(await pp.getAttribute('[data-test=vi-result]', 'data-result'), 'valid');
  assert.match(await pp.textContent('[data-test=vi-result]'), /福州买方有限公司[\s\S]*430\.15/);
  assert.doesNotMatch(await pp.textContent('[data-test=vi-result]'), new RegExp(inv.check));
  await h.axe(pp, 'verified valid');
  assert.equal(await h.scrollsSideways(pp), false);
  await h.shot(pp, 'taxpay-verify-valid');
  const wrong = inv.check.slice(0, 19) + ((Number(inv.check[19]) + 1) % 10);
  await verify(wrong);
  assert.equal(await pp.getAttribute('[data-test=vi-error]', 'data-code'), 'no_match');
  assert.match(await pp.textContent('[data-test=vi-error]'), /查无此票/);
  assert.equal(await pp.locator('[data-test=vi-result]').count(), 0);
  await h.axe(pp, 'no match');

  // the seller reverses it: confirmed; the red-letter invoice
  await page.fill('[data-test=rev-reason]', '销售退回');
  await page.click('[data-test=rev-go]');
  assert.match(await confirmBox(page), new RegExp(inv.number));
  await page.waitForSelector('[data-test=inv-status][data-kind=red]');
  await h.settle(page);
  assert.equal((await page.textContent('[data-test=invoice-view] [data-field=total_fen]')).trim(), '-430.15');
  await h.axe(page, 'red-letter invoice');
  await h.shot(page, 'taxpay-red');
  await page.click('[data-test=inv-reverses]');
  await page.waitForSelector('[data-test=inv-status][data-status=reversed]');
  assert.equal(await page.locator('[data-test=reverse-form]').count(), 0, 'a reversed invoice is not offered for reversal again');
  // …and the public page says it is reversed
  await verify(inv.check);
  assert.equal(await pp.getAttribute('[data-test=vi-result]', 'data-result'), 'reversed');
  assert.match(await pp.textContent('[data-test=vi-verdict]'), /红字发票冲销/);
  await h.shot(pp, 'taxpay-verify-reversed');

  // the public taxpayer lookup: by USCC, the A rating published
  await h.visit(pp, '/tax/lookup');
  await pp.fill('[data-test=tl-q]', ent.uscc);
  await pp.click('[data-test=tl-go]');
  await pp.waitForSelector('[data-test=tl-result]');
  await h.settle(pp);
  assert.match(await pp.textContent('[data-test=tl-result]'), new RegExp(ent.enterprise_name));
  assert.match(await pp.textContent('[data-test=tl-result] [data-field=credit]'), /A 级/);
  await h.axe(pp, 'lookup found');
  assert.equal(await h.scrollsSideways(pp), false);
  await h.shot(pp, 'taxpay-lookup');
  // a burst of look-ups from this address: the next one is told how long to wait.
  // The bucket refills at 2/s, so on a loaded machine it may have a token again by the
  // time the click lands: burst again until the page's own look-up is the one refused.
  let refused = false;
  for (let attempt = 0; attempt < 20 && !refused; attempt++) {
    for (let i = 0; i < 200; i++) {
      const r = await fetch(`${srv.url}/api/v1/public/taxpayers?uscc=${ent.uscc}`);
      if (r.status === 429) break;
    }
    const [resp] = await Promise.all([
      pp.waitForResponse((x) => x.url().includes('/api/v1/public/taxpayers')),
      pp.click('[data-test=tl-go]'),
    ]);
    refused = resp.status() === 429;
  }
  assert.ok(refused, 'the page\'s look-up was refused with 429 after a burst');
  await pp.waitForSelector('[data-test=tl-error][data-code=rate_limited]');
  assert.match(await pp.textContent('[data-test=tl-error]'), /请 \d+ 秒后再试/);
  await h.axe(pp, 'rate limited');
  await pub.close();

  for (const p of [invPath, `/tax/${ent.tpId}/invoices/new`, '/tax']) await narrow(page, p);
  await context.close();
});

test('a declaration signed in the browser with the SM2 key of a certificate registered to the account', async () => {
  const keys = mkdtempSync(join(tmpdir(), 'ehall-keys-'));
  try {
    const mine = h.sm2Key(keys, 'usb');
    const stranger = h.sm2Key(keys, 'stranger');
    const ent = await newTaxpayer();
    const api = await h.accountApi(srv, ent.login, ent.password);
    await api.call('POST', '/account/certs', { label: '财务 USB Key', public_key: readFileSync(mine.pub, 'utf8') });

    const { context, page } = await loggedIn(ent);
    const bodies = h.recordBodies(page);
    await h.visit(page, `/tax/${ent.tpId}/declare?tax=vat&period=${lastQ.p}`);
    await page.click('[data-test=form-zero]');
    await page.click('[data-test=preview]');
    await page.waitForSelector('[data-test=decl-preview] [data-test=sign-form]');
    await h.settle(page);
    await h.axe(page, 'preview with the signing key field');
    // a public key file cannot sign
    await page.setInputFiles('[data-test=decl-key]', mine.pub);
    await page.waitForSelector('[data-test=sign-form] .el-form-item__error');
    assert.match(await page.textContent('[data-test=sign-form] .el-form-item__error'), /公钥文件/);
    // 不签名 takes the file back (a declaration may be submitted unsigned)
    await page.click('[data-test=decl-key-clear]');
    await page.waitForSelector('[data-test=sign-form] .el-form-item__error', { state: 'detached' });
    assert.equal(await page.$eval('[data-test=decl-key]', (i) => i.files.length), 0);
    // a key registered to nobody here: the server refuses the signature, named beside the key
    await page.setInputFiles('[data-test=decl-key]', stranger.key);
    await page.waitForSelector('[data-test=sign-form] .el-form-item__error', { state: 'detached' });
    await page.click('[data-test=decl-preview] [data-test=submit]');
    await confirmBox(page);
    await page.waitForSelector('[data-test=sign-form] .el-form-item__error');
    assert.match(await page.textContent('[data-test=sign-form] .el-form-item__error'), /已登记/);
    assert.equal(await page.locator('[data-test=decl-preview]').count(), 1, 'still on the preview');
    await h.axe(page, 'signature refused');
    // the registered key signs it
    await page.setInputFiles('[data-test=decl-key]', mine.key);
    await page.waitForSelector('[data-test=sign-form] .el-form-item__error', { state: 'detached' });
    await page.click('[data-test=decl-preview] [data-test=submit]');
    await confirmBox(page);
    await page.waitForSelector('[data-test=decl-done] [data-test=done-signed]');
    await h.shot(page, 'taxpay-signed');
    const id = Number((await page.textContent('[data-test=decl-done]')).match(/#(\d+)/)[1]);
    const d = await api.call('GET', `/tax/declarations/${id}`);
    assert.equal(d.signed, true);
    assert.equal(d.form, 'zero');
    await page.click('[data-test=to-decl]');
    await page.waitForSelector('[data-test=decl-data]');
    assert.match(await page.textContent('main'), /已数字签名\s*是/);
    // what went over the wire: a signature, never the key
    const sent = bodies.filter((b) => b.startsWith('POST') && b.includes('/api/v1/tax/declarations'));
    assert.ok(sent.some((b) => /"signature":"30[0-9a-f]+"/.test(b)), 'the declaration carried a DER signature');
    for (const k of [mine, stranger]) assert.ok(!bodies.some((b) => b.includes(k.secret.slice(0, 40))), 'no request carries a private key');
    await context.close();
  } finally {
    rmSync(keys, { recursive: true, force: true });
  }
});
