// Electronic licences in the browser: a case of GA-HJ-0003 (outputs.licence =
// household_certificate) closed through the engine gives a licence the citizen finds in
// 我的证照 and downloads as a PDF (its attachment and QR code checked with poppler and
// zbar); the QR's URL opens the public verification page without a log-in; the four
// roles issue a temporary ID certificate through the workbench pages with separation of
// duties (the clerk-and-reviewer account may not review its own entry, in the UI and at
// the server); the department administrator revokes it with a reason after a
// confirmation and reads the types catalog; the verify page and the wallet then say
// revoked, and a licence moved past its valid_to (SQL) shows as expired.  axe runs on every page visited; every page is checked at 375 px for sideways
// scrolling; screenshots go to build/screenshots/ (lic-*).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as h from './helpers.mjs';

let srv, browser, person, citizen, caseLicence, manualLicence;

before(async () => {
  srv = await h.startServer();
  browser = await h.launch();
});
after(async () => {
  await browser?.close();
  await srv?.stop();
});

/** visit + axe + the 375 px check + a screenshot. */
async function look(page, path, name) {
  await h.visit(page, path);
  await h.shot(page, `lic-${name}`);
  await h.fitsPhone(page, `lic-${name}`);
}

async function staffPage(deptCode, roles) {
  const s = await h.newStaff(srv, { deptCode, roles });
  const { context, page } = await h.openPage(browser, srv);
  await h.firstLoginUI(page, s.login, s.one_time_password, { digest: 'SM3', landing: '/workbench' });
  return { context, page };
}

test('a case with a licence output closes; the citizen sees the licence in the wallet and downloads its PDF', async () => {
  person = await h.newPerson(srv);
  const me = await h.accountApi(srv, person.login, person.password);
  const made = await me.call('POST', '/cases', { item: 'GA-HJ-0003', form: { purpose: 'former_name', copies: 1 }, materials: {} });
  await me.call('POST', `/cases/${made.id}/submit`, {});
  const clerk = await h.staffApi(srv, await h.newStaff(srv, { deptCode: 'PSB-YZ-HJ', roles: ['hj_clerk'] }));
  const waitCase = async (pred, what) => {
    for (let i = 0; i < 200; i++) {
      const k = await me.call('GET', `/cases/${made.id}`);
      if (pred(k)) return k;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`case ${made.id} never ${what}`);
  };
  await clerk.call('POST', `/cases/${made.id}/actions`, { action: 'sign' });
  await waitCase((k) => k.precheck === 'passed', 'pre-checked');
  await clerk.call('POST', `/cases/${made.id}/actions`, { action: 'accept', opinion: '同意' });
  await clerk.call('POST', `/cases/${made.id}/actions`, { action: 'approve', opinion: '同意' });
  await waitCase((k) => k.state === 'closed', 'closed');

  // the wallet (the licence is issued through the exchange queue: it may take a moment)
  const ctx = await h.openPage(browser, srv);
  citizen = ctx.page;
  await h.loginUI(citizen, person.login, person.password);
  await citizen.waitForURL((u) => u.pathname !== '/login');
  await citizen.click('nav.menu >> text=我的证照');
  await citizen.waitForURL((u) => u.pathname === '/licences');
  for (let i = 0; i < 60 && !(await citizen.$('[data-test=lic-list] li')); i++) {
    await citizen.waitForTimeout(250);
    await citizen.reload();
    await h.settle(citizen);
  }
  await look(citizen, '/licences', 'wallet');
  const cards = await citizen.$$('[data-test=lic-list] li');
  assert.equal(cards.length, 1);
  caseLicence = await cards[0].getAttribute('data-id');
  assert.match(caseLicence, /^HJZM-500103HJ-\d{12}-[0-9A-Z]$/);
  assert.equal(await cards[0].getAttribute('data-status'), 'valid');
  const card = await cards[0].textContent();
  assert.match(card, /户籍证明/);
  assert.match(card, /有效/);

  // its detail: the fields of the signed document, the seal
  await citizen.click(`[data-test="lic-open-${caseLicence}"]`);
  await citizen.waitForURL((u) => u.pathname === `/licences/${caseLicence}`);
  await look(citizen, `/licences/${caseLicence}`, 'detail');
  assert.equal((await citizen.textContent('[data-test=lic-id]')).trim(), caseLicence);
  assert.equal(await citizen.getAttribute('[data-test=lic-status]', 'data-status'), 'valid');
  const fields = await citizen.textContent('[data-test=lic-fields]');
  assert.match(fields, new RegExp(person.name));
  assert.match(fields, new RegExp(person.id_number));
  assert.match(fields, /渝中区分局户政科/);
  assert.match(fields, /case:EH\d+/);
  assert.match(await citizen.textContent('[data-test=lic-seal]'), /SM2-with-SM3/);

  // the PDF: the signed JSON attached, the QR code carrying the verification URL
  const [dl] = await Promise.all([citizen.waitForEvent('download'), citizen.click('[data-test=lic-pdf]')]);
  assert.equal(dl.suggestedFilename(), `${caseLicence}.pdf`);
  const pdf = readFileSync(await dl.path());
  assert.equal(pdf.subarray(0, 5).toString(), '%PDF-');
  const tmp = mkdtempSync(join(tmpdir(), 'lic-pdf-'));
  try {
    writeFileSync(join(tmp, 'l.pdf'), pdf);
    assert.match(execFileSync('pdfdetach', ['-list', join(tmp, 'l.pdf')], { encoding: 'utf8' }), /licence\.json/);
    execFileSync('pdfdetach', ['-save', '1', '-o', join(tmp, 'l.json'), join(tmp, 'l.pdf')]);
    const signed = JSON.parse(readFileSync(join(tmp, 'l.json'), 'utf8'));
    assert.equal(signed.licence.id, caseLicence);
    assert.equal(signed.licence.holder_number, person.id_number);
    assert.equal(signed.seal.alg, 'SM2-with-SM3');
    execFileSync('pdftoppm', ['-png', '-r', '150', '-singlefile', join(tmp, 'l.pdf'), join(tmp, 'page')]);
    const qr = execFileSync('zbarimg', ['-q', '--raw', join(tmp, 'page.png')], { encoding: 'utf8' }).trim();
    assert.match(qr, new RegExp(`/verify/licence/${caseLicence}$`));
    // the QR's URL, opened by anyone: the public verification page
    const pub = await h.openPage(browser, srv, { viewport: h.PHONE });
    await h.visit(pub.page, new URL(qr).pathname);
    assert.equal(await h.scrollsSideways(pub.page), false);
    await pub.page.waitForSelector('[data-test=vl-result]');
    assert.equal(await pub.page.getAttribute('[data-test=vl-result]', 'data-status'), 'valid');
    const shown = await pub.page.textContent('[data-test=vl-result]');
    assert.match(shown, /真实有效/);
    assert.match(shown, /户籍证明/);
    assert.doesNotMatch(shown, new RegExp(person.name), 'the holder name is masked');
    assert.doesNotMatch(shown, new RegExp(person.id_number), 'no ID number in public');
    await h.shot(pub.page, 'lic-verify-valid');
    // the public keys for offline checks are one link away; the page speaks English too
    const keys = await pub.page.evaluate(async (u) => (await fetch(u)).json(), await pub.page.getAttribute('[data-test=vl-keys]', 'href'));
    assert.ok(keys.keys.some((k) => k.dept === 'PSB-YZ-HJ' && k.key_id === signed.seal.key_id));
    await pub.page.click('[data-test=lang]');
    await pub.page.waitForFunction(() => /Verify a licence/.test(document.querySelector('h1')?.textContent || ''));
    assert.match(await pub.page.textContent('[data-test=vl-verdict]'), /genuine and valid/);
    await h.axe(pub.page, 'verify in English');
    await h.shot(pub.page, 'lic-verify-valid-en');
    await pub.page.click('[data-test=lang]');
    // a wrong check character is refused with the field named
    const bad = caseLicence.slice(0, -1) + (caseLicence.endsWith('A') ? 'B' : 'A');
    await pub.page.fill('[data-test=vl-id]', bad);
    await pub.page.click('[data-test=vl-check]');
    await pub.page.waitForSelector('[data-test=vl-field-id]');
    assert.equal(await pub.page.$('[data-test=vl-result]'), null);
    assert.match(await pub.page.textContent('[data-test=error]'), /校验位/);
    await h.axe(pub.page, 'verify: bad id');
    // a file someone handed over, checked whole: the PDF is genuine and valid; a copy with
    // a changed date is caught, and a text file is refused under the file field
    await pub.page.setInputFiles('[data-test=vf-file]', join(tmp, 'l.pdf'));
    await pub.page.click('[data-test=vf-check]');
    await pub.page.waitForSelector('[data-test=vf-result][data-result=valid]');
    assert.match(await pub.page.textContent('[data-test=vf-fields]'), new RegExp(person.name));
    assert.match(await pub.page.textContent('[data-test=vf-result]'), /证照库记录：有效/);
    assert.equal(await h.scrollsSideways(pub.page), false);
    await h.axe(pub.page, 'verify a file');
    await h.shot(pub.page, 'lic-verify-file');
    writeFileSync(join(tmp, 'altered.json'), JSON.stringify({ ...signed, licence: { ...signed.licence, valid_to: '2099-12-31' } }));
    await pub.page.setInputFiles('[data-test=vf-file]', join(tmp, 'altered.json'));
    await pub.page.click('[data-test=vf-check]');
    await pub.page.waitForSelector('[data-test=vf-result][data-result=altered]');
    assert.match(await pub.page.textContent('[data-test=vf-verdict]'), /改动/);
    assert.equal(await pub.page.$('[data-test=vf-fields]'), null);
    writeFileSync(join(tmp, 'note.txt'), 'not a licence');
    await pub.page.setInputFiles('[data-test=vf-file]', join(tmp, 'note.txt'));
    await pub.page.click('[data-test=vf-check]');
    await pub.page.waitForSelector('[data-test=vf-field-body]');
    assert.equal(await pub.page.$('[data-test=vf-result]'), null);
    await h.axe(pub.page, 'verify a file: refused');
    await pub.context.close();
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('the four roles issue a licence in the workbench with separation of duties; the administrator revokes it', async () => {
  // the entry clerk: the form built from the type, the server's field errors beside the fields
  const clerk = await staffPage('PSB-YZ-HJ', ['lic_entry_clerk']);
  await clerk.page.click('[data-test=wb-licences]');
  await clerk.page.waitForURL((u) => u.pathname === '/workbench/licences');
  await look(clerk.page, '/workbench/licences', 'work-clerk');
  await clerk.page.click('[data-test=lw-new]');
  await clerk.page.waitForSelector('[data-test=le-form]');
  await h.settle(clerk.page);
  await h.pickOption(clerk.page, 'le-type', '临时身份证明');
  await clerk.page.waitForSelector('[data-test=le-fields]');
  await clerk.page.fill('[data-test=le-holder-number]', '110105199003070000');
  await clerk.page.click('[data-test=le-submit]');
  await clerk.page.waitForSelector('.el-form-item__error');
  const errors = await clerk.page.$$eval('.el-form-item.is-error', (xs) => xs.map((x) => x.querySelector('label')?.textContent ?? ''));
  for (const w of ['持证人姓名', '证件号码', '性别', '出生日期', '户籍地址']) assert.ok(errors.some((e) => e.includes(w)), `no error beside ${w}: ${errors}`);
  await h.axe(clerk.page, 'entry form with errors');
  await h.shot(clerk.page, 'lic-entry-errors');
  await h.fitsPhone(clerk.page, 'lic-entry-form');
  await clerk.page.fill('[data-test=le-holder-name]', person.name);
  await clerk.page.fill('[data-test=le-holder-number]', person.id_number);
  await h.pickOption(clerk.page, 'le-f-gender', '男');
  await clerk.page.fill('#le-f-birth_date', '1990-03-07');
  await clerk.page.keyboard.press('Enter');
  await clerk.page.fill('[data-test=le-f-address]', '重庆市渝中区解放碑1号');
  await clerk.page.click('[data-test=le-submit]');
  await clerk.page.waitForURL((u) => /^\/workbench\/licences\/\d+$/.test(u.pathname));
  await h.settle(clerk.page);
  const entry = Number(new URL(clerk.page.url()).pathname.split('/').pop());
  await look(clerk.page, `/workbench/licences/${entry}`, 'entry');
  assert.equal(await clerk.page.getAttribute('[data-test=ew-state]', 'data-state'), 'entered');
  assert.match(await clerk.page.textContent('[data-test=ew-data]'), /重庆市渝中区解放碑1号/);
  assert.equal(await clerk.page.$('[data-test=ew-pass]'), null, 'a clerk has no review buttons');
  await clerk.context.close();

  // an account holding both the clerk's and the reviewer's roles: may not review its own entry
  const dual = await staffPage('PSB-YZ-HJ', ['lic_entry_clerk', 'lic_reviewer']);
  await h.visit(dual.page, '/workbench/licences/new');
  await h.pickOption(dual.page, 'le-type', '临时身份证明');
  await dual.page.fill('[data-test=le-holder-name]', '王五');
  await dual.page.fill('[data-test=le-holder-number]', h.idNumber(7));
  await h.pickOption(dual.page, 'le-f-gender', '女');
  await dual.page.fill('#le-f-birth_date', '1990-03-07');
  await dual.page.keyboard.press('Enter');
  await dual.page.fill('[data-test=le-f-address]', '重庆市渝中区民生路2号');
  await dual.page.click('[data-test=le-submit]');
  await dual.page.waitForURL((u) => /^\/workbench\/licences\/\d+$/.test(u.pathname));
  await h.settle(dual.page);
  const own = Number(new URL(dual.page.url()).pathname.split('/').pop());
  assert.notEqual(own, entry);
  await dual.page.waitForSelector('[data-test=ew-barred]');
  assert.match(await dual.page.textContent('[data-test=ew-barred]'), /职责分离/);
  assert.equal(await dual.page.$('[data-test=ew-pass]'), null);
  await h.axe(dual.page, 'own entry, barred');
  await h.shot(dual.page, 'lic-entry-barred');
  // … and the server refuses it whatever the page shows
  const refused = await dual.page.evaluate(async (id) => {
    const { csrf } = await (await fetch('/api/v1/session')).json();
    const r = await fetch(`/api/v1/licence-entries/${id}/review`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf }, body: '{"decision":"pass"}' });
    return { status: r.status, body: await r.json() };
  }, own);
  assert.equal(refused.status, 403);
  assert.equal(refused.body.error.code, 'separation_of_duties');

  // it reviews the clerk's entry: a rejection needs an opinion; then it passes it
  await h.visit(dual.page, '/workbench/licences');
  assert.ok(await dual.page.$(`[data-test=lw-list] li[data-id="${entry}"]`), 'the entry waits in the reviewer\'s list');
  await dual.page.click(`[data-test=lw-open-${entry}]`);
  await dual.page.waitForSelector('[data-test=ew-review]');
  await h.settle(dual.page);
  await h.axe(dual.page, 'entry to review');
  await dual.page.click('[data-test=ew-reject]');
  await dual.page.waitForSelector('[data-test=ew-opinion-error]');
  assert.equal(await dual.page.getAttribute('[data-test=ew-state]', 'data-state'), 'entered');
  await dual.page.fill('[data-test=ew-opinion-input]', '信息核对无误');
  await dual.page.click('[data-test=ew-pass]');
  await dual.page.waitForFunction(() => document.querySelector('[data-test=ew-state]')?.dataset.state === 'reviewed');
  assert.match(await dual.page.textContent('[data-test=ew-steps]'), /信息核对无误/);
  await h.shot(dual.page, 'lic-entry-reviewed');
  await dual.context.close();

  // the seal officer seals it after a confirmation
  const sealer = await staffPage('PSB-YZ-HJ', ['lic_seal_officer']);
  await h.visit(sealer.page, '/workbench/licences');
  assert.equal(await sealer.page.getAttribute('[data-test=lw-state-reviewed]', 'aria-pressed'), 'true');
  await sealer.page.click(`[data-test=lw-open-${entry}]`);
  await sealer.page.waitForSelector('[data-test=ew-seal]');
  await h.settle(sealer.page);
  await h.axe(sealer.page, 'entry to seal');
  await sealer.page.click('[data-test=ew-seal]');
  await h.confirmDialog(sealer.page);
  await sealer.page.waitForSelector('[data-test=ew-licence]');
  manualLicence = (await sealer.page.textContent('[data-test=ew-licence]')).trim();
  assert.match(manualLicence, /^LSSF-500103HJ-\d{12}-[0-9A-Z]$/);
  assert.equal(await sealer.page.getAttribute('[data-test=ew-state]', 'data-state'), 'sealed');
  await look(sealer.page, `/workbench/licences/${entry}`, 'entry-sealed');
  await sealer.context.close();

  // the holder has it now, beside the one from the case
  await h.visit(citizen, '/licences');
  assert.equal((await citizen.$$('[data-test=lic-list] li')).length, 2);
  assert.ok(await citizen.$(`[data-test=lic-list] li[data-id="${manualLicence}"][data-status=valid]`));

  // the department administrator: the types catalog, then the revocation
  const adm = await staffPage('PSB-YZ', ['lic_admin']);
  await adm.page.click('[data-test=wb-licences]');
  await adm.page.waitForURL((u) => u.pathname === '/workbench/licences');
  await h.settle(adm.page);
  await adm.page.click('[data-test=lw-types]');
  await adm.page.waitForURL((u) => u.pathname === '/workbench/licence-types');
  await look(adm.page, '/workbench/licence-types', 'types');
  assert.equal((await adm.page.$$('[data-test=lt-type]')).length, 10);
  assert.match(await adm.page.textContent('[data-code=temporary_id_certificate]'), /LSSF-500103HJ/);
  assert.match(await adm.page.textContent('[data-code=temporary_id_certificate]'), /户籍地址/);
  await h.visit(adm.page, '/workbench/licences');
  await adm.page.click('[data-test=lw-revoke]');
  await adm.page.waitForURL((u) => u.pathname === '/workbench/licences/revoke');
  await h.settle(adm.page);
  await adm.page.fill('[data-test=lr-id]', manualLicence.toLowerCase());
  await adm.page.click('[data-test=lr-lookup]');
  await adm.page.waitForSelector('[data-test=lr-found]');
  assert.equal(await adm.page.getAttribute('[data-test=lr-found]', 'data-status'), 'valid');
  await h.axe(adm.page, 'revoke: found');
  await h.fitsPhone(adm.page, 'lic-revoke');
  await adm.page.click('[data-test=lr-submit]');
  await adm.page.waitForSelector('[data-test=lr-reason-error]');
  await adm.page.fill('[data-test=lr-reason]', '持证人已领取正式身份证');
  await adm.page.click('[data-test=lr-submit]');
  await adm.page.waitForSelector('.el-message-box');
  assert.match(await adm.page.textContent('.el-message-box'), new RegExp(manualLicence));
  await h.confirmDialog(adm.page);
  await adm.page.waitForSelector('[data-test=lr-revoked]');
  assert.equal(await adm.page.getAttribute('[data-test=lr-found]', 'data-status'), 'revoked');
  await h.shot(adm.page, 'lic-revoked');
  await adm.context.close();

  // everyone sees it revoked: the public page and the holder's wallet
  const pub = await h.openPage(browser, srv);
  await look(pub.page, `/verify/licence/${manualLicence}`, 'verify-revoked');
  assert.equal(await pub.page.getAttribute('[data-test=vl-result]', 'data-status'), 'revoked');
  assert.match(await pub.page.textContent('[data-test=vl-revoked]'), /持证人已领取正式身份证/);
  await pub.context.close();
  await h.visit(citizen, `/licences/${manualLicence}`);
  assert.equal(await citizen.getAttribute('[data-test=lic-status]', 'data-status'), 'revoked');
  assert.match(await citizen.textContent('[data-test=lic-revoked]'), /持证人已领取正式身份证/);
  await h.visit(citizen, `/licences/${caseLicence}`);
  assert.equal(await citizen.getAttribute('[data-test=lic-status]', 'data-status'), 'valid');

  // a licence past its valid_to: the wallet and the public page say expired (the status is
  // computed from valid_to even before the expiry job has run)
  h.sql(srv, `UPDATE licence SET valid_to_day = ${h.calendarToday() - 1} WHERE licence_no = '${caseLicence}'`);
  await h.visit(citizen, '/licences');
  assert.equal(await citizen.getAttribute(`[data-test=lic-list] li[data-id="${caseLicence}"]`, 'data-status'), 'expired');
  assert.match(await citizen.textContent(`[data-test=lic-list] li[data-id="${caseLicence}"]`), /已过期/);
  await h.shot(citizen, 'lic-wallet-expired');
  const pub2 = await h.openPage(browser, srv);
  await h.visit(pub2.page, `/verify/licence/${caseLicence}`);
  assert.equal(await pub2.page.getAttribute('[data-test=vl-result]', 'data-status'), 'expired');
  assert.match(await pub2.page.textContent('[data-test=vl-verdict]'), /已过有效期/);
  await pub2.context.close();
});
