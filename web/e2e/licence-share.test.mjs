// Licence sharing in the browser: a person's temporary ID certificate (issued through
// the four roles' API) gets a one-use share code for hotel check-in on its page; the QR
// code shown there decodes (zbarimg) to /verify/share/<code>, which a fresh phone-sized
// browser opens after the warning that it uses one view: only the scenario's fields and
// the watermark; a second open says used up (in English too); a second code is revoked
// after a confirmation and its page says so; "who used my licence" lists the views.  A
// department's staff registers two gateway applications, the system administrator
// approves one narrowing its fields (the secret shown once, copied) and rejects the
// other with a reason; the holder authorises the approved one and revokes it; the
// auditor reads the usage log from the console and filters it.  axe on every page and
// dialog, 375 px checks, screenshots in build/screenshots/share-*.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as h from './helpers.mjs';

let srv, browser, person, licence, holder, appId;

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


/** A public browser (phone-sized, fresh context) opening a share code's page. */
async function openShare(path) {
  const pub = await h.openPage(browser, srv, { viewport: h.PHONE });
  await h.visit(pub.page, path);
  assert.equal(await h.scrollsSideways(pub.page), false, 'the share page scrolls sideways at 375 px');
  assert.match(await pub.page.textContent('[data-test=vs-ask]'), /用掉.*一次/);
  await pub.page.click('[data-test=vs-open]');
  await pub.page.waitForSelector('[data-test=vs-result], [data-test=vs-gone]');
  await h.settle(pub.page);
  await h.axe(pub.page, `${path} opened`);
  return pub;
}

test('a licence is issued to a person by the four roles', async () => {
  person = await h.newPerson(srv);
  const staff = async (roles) => h.staffApi(srv, await h.newStaff(srv, { deptCode: 'PSB-YZ-HJ', roles }));
  const clerk = await staff(['lic_entry_clerk']);
  const reviewer = await staff(['lic_reviewer']);
  const sealer = await staff(['lic_seal_officer']);
  const e = await clerk.call('POST', '/licence-entries', {
    type: 'temporary_id_certificate',
    holder_name: person.name,
    holder_number: person.id_number,
    fields: { gender: '男', birth_date: '1990-03-07', address: '重庆市渝中区解放碑1号' },
  });
  await reviewer.call('POST', `/licence-entries/${e.id}/review`, { decision: 'pass' });
  licence = (await sealer.call('POST', `/licence-entries/${e.id}/seal`, {})).licence_id;
  assert.match(licence, /^LSSF-/);
});

test('the holder makes a one-use share code; its QR opens the public page once, with only the scenario\'s fields and the watermark', async () => {
  const ctx = await h.openPage(browser, srv);
  holder = ctx.page;
  await h.loginUI(holder, person.login, person.password);
  await holder.waitForURL((u) => u.pathname !== '/login');
  await h.visit(holder, `/licences/${licence}`);
  await holder.waitForSelector('[data-test=sh-form]');
  await h.shot(holder, 'share-detail');
  await h.fitsPhone(holder, 'share-detail');

  await h.pickOption(holder, 'sh-scenario', '酒店入住');
  assert.match(await holder.textContent('[data-test=sh-shows]'), /持证人/);
  await holder.fill('#sh-minutes', '10');
  await holder.fill('#sh-uses', '1');
  await holder.click('[data-test=sh-create]');
  await holder.waitForSelector('[data-test=sh-made]');
  await h.settle(holder);
  await h.axe(holder, 'share code made');
  await h.shot(holder, 'share-made');
  const code = await holder.getAttribute('[data-test=sh-made]', 'data-code');
  assert.match(code, /^[A-Za-z0-9_-]{24}$/);
  assert.equal((await holder.textContent('[data-test=sh-code]')).trim(), code);
  assert.match(await holder.textContent('[data-test=sh-expires]'), /^\d{4}-\d\d-\d\d \d\d:\d\d$/);

  // the QR code, decoded from a screenshot of it
  const tmp = mkdtempSync(join(tmpdir(), 'share-qr-'));
  let qr;
  try {
    await holder.locator('[data-test=sh-qr]').screenshot({ path: join(tmp, 'qr.png') });
    qr = execFileSync('zbarimg', ['-q', '--raw', join(tmp, 'qr.png')], { encoding: 'utf8' }).trim();
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  assert.equal(qr, `${srv.url}/verify/share/${code}`);
  const row = `[data-test=sh-list] tr[data-hint="${code.slice(0, 6)}"]`;
  assert.equal(await holder.getAttribute(row, 'data-state'), 'active');

  // opened by whoever was shown it: only the scenario's fields, the watermark
  const first = await openShare(new URL(qr).pathname);
  assert.equal(await first.page.getAttribute('[data-test=vs-result]', 'data-status'), 'valid');
  const keys = await first.page.$$eval('[data-test=vs-fields] dd', (xs) => xs.map((x) => x.dataset.field).sort());
  assert.deepEqual(keys, ['holder_name', 'holder_number', 'id', 'valid_to']);
  const shown = await first.page.textContent('[data-test=vs-result]');
  assert.match(shown, new RegExp(person.name));
  assert.match(shown, new RegExp(person.id_number));
  assert.doesNotMatch(shown, /解放碑/, 'the address is not in the hotel scenario');
  assert.match(await first.page.textContent('[data-test=vs-watermark]'), /^仅供酒店入住使用 \d{4}-\d\d-\d\d \d\d:\d\d$/);
  assert.match(await first.page.textContent('[data-test=vs-left]'), /0 次/);
  await h.shot(first.page, 'share-verify-375');
  await first.context.close();

  // a second open: used up, said plainly (and in English)
  const second = await openShare(new URL(qr).pathname);
  assert.equal(await second.page.getAttribute('[data-test=vs-gone]', 'data-why'), 'used_up');
  assert.match(await second.page.textContent('[data-test=vs-gone]'), /用完/);
  assert.equal(await second.page.$('[data-test=vs-fields]'), null);
  await h.shot(second.page, 'share-verify-used-up');
  await second.page.click('[data-test=lang]');
  await second.page.waitForFunction(() => /as often as allowed/.test(document.querySelector('[data-test=vs-gone]')?.textContent || ''));
  await h.axe(second.page, 'used up, English');
  await second.context.close();

  await holder.reload();
  await h.settle(holder);
  await holder.waitForSelector(row);
  assert.equal(await holder.getAttribute(row, 'data-state'), 'used_up');
});

test('the holder revokes a share code after a confirmation; the public page says revoked; "who used my licence" lists the views', async () => {
  await h.pickOption(holder, 'sh-scenario', '铁路出行');
  await holder.fill('#sh-uses', '3');
  await holder.click('[data-test=sh-create]');
  await holder.waitForSelector('[data-test=sh-made]');
  await h.settle(holder);
  const code = await holder.getAttribute('[data-test=sh-made]', 'data-code');
  const row = `[data-test=sh-list] tr[data-hint="${code.slice(0, 6)}"]`;
  const id = await holder.getAttribute(row, 'data-id');
  // cancelling keeps it
  await holder.click(`[data-test=sh-revoke-${id}]`);
  await holder.waitForSelector('.el-message-box');
  await holder.click('.el-message-box__btns .el-button:not(.el-button--primary)');
  await holder.waitForSelector('.el-message-box', { state: 'hidden' });
  assert.equal(await holder.getAttribute(row, 'data-state'), 'active');
  await holder.click(`[data-test=sh-revoke-${id}]`);
  await h.confirmDialog(holder);
  await holder.waitForSelector(`${row}[data-state=revoked]`);
  assert.equal(await holder.$('[data-test=sh-made]'), null, 'the revoked code is no longer shown');

  const pub = await openShare(`/verify/share/${code}`);
  assert.equal(await pub.page.getAttribute('[data-test=vs-gone]', 'data-why'), 'revoked');
  assert.match(await pub.page.textContent('[data-test=vs-gone]'), /撤销/);
  await pub.context.close();

  await holder.reload();
  await h.settle(holder);
  await holder.waitForSelector('[data-test=uses] [data-test=use-table]');
  const uses = await holder.$$eval('[data-test=uses] tbody tr', (xs) => xs.map((x) => `${x.dataset.action}:${x.dataset.result}`));
  for (const u of ['share_create:ok', 'share_view:ok', 'share_view:used_up', 'share_view:revoked'])
    assert.ok(uses.includes(u), `no ${u} in ${uses}`);
  assert.match(await holder.textContent('[data-test=uses]'), /查看分享码/);
  await h.axe(holder, 'detail with uses');
  await h.shot(holder, 'share-uses');
  await h.fitsPhone(holder, 'share-detail-uses');
});

test('staff register gateway applications; the system administrator approves one (the secret shown once) and rejects the other', async () => {
  const s = await h.newStaff(srv, { deptCode: 'PSB-YZ-HJ', roles: ['hj_clerk'] });
  const { context, page } = await h.openPage(browser, srv);
  await h.firstLoginUI(page, s.login, s.one_time_password, { digest: 'SM3', landing: '/workbench' });
  await page.click('[data-test=wb-licence-apps]');
  await page.waitForURL((u) => u.pathname === '/workbench/licence-apps');
  await h.visit(page, '/workbench/licence-apps');
  // an empty form: the server's errors beside the fields
  await page.click('[data-test=ga-register]');
  await page.waitForSelector('.el-form-item__error');
  await h.axe(page, 'register app with errors');
  const register = async (name, fields) => {
    await page.fill('[data-test=ga-name]', name);
    await page.click('[data-test=ga-sc-hotel_checkin]');
    for (const f of fields) await page.click(`[data-test=ga-f-${f}]`);
    await page.click('[data-test=ga-register]');
    await page.waitForSelector('[data-test=ga-registered]');
    await h.settle(page);
  };
  await register('渝中宾馆前台', ['id', 'holder_name', 'holder_number']);
  await register('测试应用', ['id']);
  assert.equal(await page.$$eval('[data-test=ga-list] li[data-state=pending]', (xs) => xs.length), 2);
  await h.shot(page, 'share-apps-staff');
  await h.fitsPhone(page, 'share-apps-staff');
  await context.close();

  const admin = await h.openPage(browser, srv);
  await admin.context.grantPermissions(['clipboard-read', 'clipboard-write']);
  const a = admin.page;
  await h.adminLoginUI(a, srv, 'sysadmin');
  await a.click('[data-test=page-licenceApps]');
  await a.waitForURL((u) => u.pathname === '/workbench/licence-apps');
  await h.visit(a, '/workbench/licence-apps');
  const hotel = a.locator('[data-test=ga-list] li[data-name="渝中宾馆前台"]');
  const hotelId = await hotel.getAttribute('data-id');
  await a.click(`[data-test=ga-approve-${hotelId}]`);
  await a.waitForSelector('[data-test=ga-decide-fields]');
  await h.axe(a, 'approve dialog');
  await a.click('[data-test=ga-d-holder_number]'); // narrowed: no ID number
  await a.click('[data-test=ga-decide-submit]');
  await a.waitForSelector('[data-test=ga-secret-value]');
  await h.settle(a);
  await h.axe(a, 'secret dialog');
  await h.shot(a, 'share-app-secret');
  appId = (await a.textContent('[data-test=ga-secret-app]')).trim();
  const secret = (await a.textContent('[data-test=ga-secret-value]')).trim();
  assert.match(appId, /^app_[0-9a-f]{16}$/);
  assert.match(secret, /^[0-9a-f]{64}$/);
  assert.match(await a.textContent('[data-test=ga-secret-warn]'), /只显示这一次/);
  await a.click('[data-test=ga-copy]');
  await a.waitForSelector('[data-test=ga-copied]');
  assert.equal(await a.evaluate(() => navigator.clipboard.readText()), `app_id=${appId}\nsecret=${secret}`);
  await a.click('[data-test=ga-secret-close]');
  await a.waitForSelector('[data-test=ga-secret-value]', { state: 'detached' });
  await h.settle(a);
  assert.equal(await hotel.getAttribute('data-state'), 'approved');
  assert.match(await hotel.textContent(), new RegExp(appId));
  assert.doesNotMatch(await a.content(), new RegExp(secret), 'the secret is gone once the dialog closes');
  await a.reload();
  await h.settle(a);
  assert.doesNotMatch(await a.content(), new RegExp(secret));

  const other = await a.locator('[data-test=ga-list] li[data-name="测试应用"]').getAttribute('data-id');
  await a.click(`[data-test=ga-reject-${other}]`);
  await a.waitForSelector('[data-test=ga-reason]');
  await a.click('[data-test=ga-decide-submit]'); // no reason: refused, said beside it
  await a.waitForSelector('#ga-decide-form .error-box');
  await a.fill('#ga-reason', '用途说明不清');
  await a.click('[data-test=ga-decide-submit]');
  await a.waitForSelector(`[data-test=ga-list] li[data-id="${other}"][data-state=rejected]`);
  assert.match(await a.textContent(`[data-test=ga-list] li[data-id="${other}"]`), /用途说明不清/);
  await h.axe(a, 'apps decided');
  await h.fitsPhone(a, 'share-apps-admin');
  await admin.context.close();
});

test('the holder authorises the approved application until a date and revokes it', async () => {
  await h.visit(holder, `/licences/${licence}`);
  await holder.fill('[data-test=au-app]', 'app_0000000000000000');
  await h.pickOption(holder, 'au-scenario', '酒店入住');
  const until = new Date((h.calendarToday() + 30) * 86400000).toISOString().slice(0, 10);
  await holder.fill('#au-until', until);
  await holder.keyboard.press('Enter');
  await holder.click('[data-test=au-grant]');
  await holder.waitForSelector('[data-test=au-form] .el-form-item__error');
  assert.match(await holder.textContent('[data-test=au-form]'), /not an approved application/);
  // the approved application is offered to choose from (the rejected one is not)
  await holder.waitForSelector(`[data-test="au-pick-${appId}"]`);
  assert.match(await holder.textContent('[data-test=au-apps]'), /渝中宾馆前台/);
  await holder.click(`[data-test="au-pick-${appId}"]`);
  assert.equal(await holder.inputValue('[data-test=au-app]'), appId);
  await h.axe(holder, 'authorisation: approved apps');
  await holder.click('[data-test=au-grant]');
  await holder.waitForSelector('[data-test=au-list] tr[data-state=active]');
  await h.settle(holder);
  const row = await holder.textContent('[data-test=au-list] tr[data-state=active]');
  assert.match(row, /渝中宾馆前台/);
  assert.match(row, new RegExp(until));
  await h.axe(holder, 'authorisation given');
  await h.shot(holder, 'share-authorised');
  const id = await holder.getAttribute('[data-test=au-list] tr[data-state=active]', 'data-id');
  await holder.click(`[data-test=au-revoke-${id}]`);
  await h.confirmDialog(holder);
  await holder.waitForSelector(`[data-test=au-list] tr[data-id="${id}"][data-state=revoked]`);
});

test('the auditor reads the licence usage log from the console and filters it', async () => {
  const { context, page } = await h.openPage(browser, srv);
  await h.adminFirstLogin(page, srv, 'auditor');
  await page.click('[data-test=page-licenceUses]');
  await page.waitForURL((u) => u.pathname === '/admin/licence-uses');
  await h.visit(page, '/admin/licence-uses');
  await page.waitForSelector('[data-test=use-table]');
  await h.shot(page, 'share-audit');
  await h.fitsPhone(page, 'share-audit');
  await page.fill('[data-test=lu-licence]', licence);
  await h.pickOption(page, 'lu-action', '查看分享码');
  await page.click('[data-test=lu-search]');
  await h.settle(page);
  const rows = await page.$$eval('[data-test=use-table] tbody tr', (xs) => xs.map((x) => x.dataset.action));
  assert.ok(rows.length >= 3, `share views: ${rows}`);
  assert.ok(rows.every((a) => a === 'share_view'));
  assert.match(await page.textContent('[data-test=use-table]'), new RegExp(licence));
  // a malformed identifier: the error beside the field
  await page.fill('[data-test=lu-licence]', 'NOT-A-LICENCE');
  await page.click('[data-test=lu-search]');
  await page.waitForSelector('[data-test=lu-filter] .el-form-item__error');
  await h.axe(page, 'usage log, bad filter');
  await context.close();
});
