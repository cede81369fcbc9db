// The portal's case pages in a real browser: a person registers, logs in and applies for
// GA-HJ-0002 (the rules twin flags a bad value as they type; materials uploaded with
// progress and reused; autosaved draft; review; confirmed submit; receipt), follows the
// case in My cases and its timeline, answers a supplement request made by staff through
// the API, sees the result and evaluates it; withdraws a second case; the inbox; an
// enterprise registers and manages sub-accounts and agents; a 375 px phone; English and
// elder mode.  axe runs on every page visited; screenshots go to build/screenshots/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as h from './helpers.mjs';

let srv, browser, person, ctx, page;
const ITEM = 'GA-HJ-0002';
const GOOD = {
  child_name: '李思远',
  child_id_number: '500103201503010520',
  from_address: '四川省成都市武侯区人民南路四段1号',
  reason: '随母亲生活',
};

before(async () => {
  srv = await h.startServer();
  browser = await h.launch();
  ({ context: ctx, page } = await h.openPage(browser, srv));
});
after(async () => {
  await ctx?.close();
  await browser?.close();
  await srv?.stop();
});

async function login(p, who) {
  await h.loginUI(p, who.login, who.password);
  await p.waitForURL((u) => u.pathname !== '/login');
  await h.settle(p);
}
async function fillGood(p = page) {
  for (const [k, v] of Object.entries(GOOD)) await p.fill(`[data-test=input-${k}]`, v);
  await p.click('[data-test=opt-origin-out_city]');
  await p.click('[data-test=opt-relation-mother]');
}
// the applicant's view of the case (through the logged-in page), until pred holds
async function waitState(id, pred, what) {
  for (let i = 0; i < 100; i++) {
    const k = await page.evaluate(async (u) => (await fetch(u)).json(), `/api/v1/cases/${id}`);
    if (pred(k)) return k;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`case ${id}: never ${what}`);
}

test('a person registers, logs in and applies with a material; the rules twin speaks as they type', async () => {
  person = await h.registerUI(page, srv);
  await login(page, person);
  await h.visit(page, `/items/${ITEM}`);
  await page.click('[data-test=apply]');
  await page.waitForURL((u) => u.pathname === `/items/${ITEM}/apply`);
  await h.settle(page);
  await page.waitForSelector('[data-test=apply-form]');
  assert.match(await page.textContent('[data-test=step-note]'), /第 1 步，共 3 步/);
  await h.axe(page, 'apply: form');

  // the rules twin: an adult's ID number breaks the item's rule "minor" before any submit
  await page.fill('[data-test=input-child_id_number]', '500103200001010526');
  await page.locator('[data-test=input-child_id_number]').blur();
  await page.waitForSelector('[data-test=field-child_id_number] .el-form-item__error');
  assert.match(await page.textContent('[data-test=field-child_id_number] .el-form-item__error'), /迁入子女须未满18周岁/);
  // a bad check character is the field's own check
  await page.fill('[data-test=input-child_id_number]', '500103201503010521');
  assert.match(await page.textContent('[data-test=field-child_id_number] .el-form-item__error'), /身份证号码不正确/);
  await h.shot(page, 'apply-rule-message');

  await fillGood();
  await page.waitForSelector('[data-test=field-child_id_number] .el-form-item__error', { state: 'detached' });
  await page.waitForFunction(() => /已自动保存/.test(document.querySelector('[data-test=autosave]')?.textContent || ''));
  assert.match(page.url(), /[?&]case=\d+/, 'the draft is saved and its id kept in the URL');
  await h.shot(page, 'apply-form');
  await page.click('[data-test=apply-form] [data-test=next]');
  await page.waitForSelector('[data-test=apply-materials]');
  await h.settle(page);
  assert.match(await page.textContent('[data-test=step-note]'), /第 2 步/);
  await h.axe(page, 'apply: materials');

  // next without the required materials: told beside the slots
  await page.click('[data-test=apply-materials] [data-test=next]');
  assert.match(await page.textContent('[data-test=slot-hukou_book]'), /请上传这项必交材料/);

  // upload with progress, then reuse the same file for the second slot
  await page.setInputFiles('[data-test=upload-hukou_book]', h.pdfFile('户口簿.pdf'));
  await page.waitForSelector('[data-test=file-hukou_book]');
  assert.match(await page.textContent('[data-test=file-hukou_book]'), /户口簿\.pdf/);
  // a slow upload shows its progress (the answer held back for a moment)
  await page.route('**/api/v1/materials', async (route) => {
    await new Promise((r) => setTimeout(r, 1000));
    await route.continue();
  });
  await page.setInputFiles('[data-test=upload-birth_cert]', h.pdfFile('出生医学证明.pdf'));
  await page.waitForSelector('[data-test=slot-birth_cert] [data-test=upload-progress]');
  await h.shot(page, 'apply-upload-progress');
  await page.waitForSelector('[data-test=file-birth_cert]');
  await page.unroute('**/api/v1/materials');
  await page.click('[data-test=reuse-move_cert]');
  await page.waitForSelector('[data-test=library] button');
  await h.axe(page, 'apply: library dialog');
  await h.shot(page, 'apply-library');
  await page.click('[data-test=library] li:has-text("户口簿.pdf") button');
  await page.waitForSelector('[data-test=file-move_cert]');
  await h.shot(page, 'apply-materials');
  await page.click('[data-test=apply-materials] [data-test=next]');
  await page.waitForSelector('[data-test=apply-review]');
  await h.settle(page);
  assert.match(await page.textContent('[data-test=apply-review]'), /李思远[\s\S]*市外迁入[\s\S]*母亲/);
  assert.match(await page.textContent('[data-test=apply-review]'), new RegExp(person.id_number), 'the profile default was filled by /check');
  await h.axe(page, 'apply: review');
  await h.shot(page, 'apply-review');

  await page.click('[data-test=apply-review] [data-test=submit]');
  await h.confirmDialog(page);
  await page.waitForSelector('[data-test=receipt]');
  const caseNo = (await page.textContent('[data-test=case-no]')).trim();
  assert.match(caseNo, /^EH\d+/);
  await h.axe(page, 'apply: receipt');
  await h.shot(page, 'apply-receipt');

  await page.click('[data-test=to-case]');
  await page.waitForSelector('[data-test=timeline]');
  await h.settle(page);
  assert.equal((await page.textContent('[data-test=case] [data-test=case-no]')).trim(), caseNo);
  assert.match(await page.textContent('[data-test=timeline]'), /提交申请/);
  assert.match(await page.textContent('[data-test=case-materials]'), /户口簿\.pdf/);
  await h.axe(page, 'case detail');
  await h.shot(page, 'case-detail');

  await h.visit(page, '/cases');
  assert.match(await page.textContent('[data-test=cases]'), /未成年子女投靠父母落户/);
  await h.shot(page, 'my-cases');
});

test('staff ask for a supplement through the API; the applicant answers it in the UI; approval, result, evaluation', async () => {
  const { cases } = await (async () => {
    const r = await page.evaluate(async () => (await fetch('/api/v1/cases')).json());
    return r;
  })();
  const id = cases.find((c) => c.item === ITEM && c.state !== 'draft').id;
  const clerk = await h.staffApi(srv, await h.newStaff(srv, { deptCode: 'PSB-YZ-HJ', roles: ['hj_clerk', 'hj_reviewer'] }));
  const leader = await h.staffApi(srv, await h.newStaff(srv, { deptCode: 'PSB-YZ', roles: ['hj_leader'] }));
  await clerk.call('POST', `/cases/${id}/actions`, { action: 'sign' });
  await clerk.call('POST', `/cases/${id}/actions`, { action: 'supplement', opinion: '户口簿复印件不清晰，请重新上传。', materials: ['hukou_book'], days: 5 });

  await h.visit(page, `/cases/${id}`);
  await page.waitForSelector('[data-test=supplement]');
  assert.match(await page.textContent('[data-test=state]'), /待补正/);
  assert.match(await page.textContent('[data-test=supplement]'), /户口簿复印件不清晰/);
  // only the slot asked for is offered
  assert.equal(await page.locator('[data-test=supplement] [data-test^=slot-]').count(), 1);
  assert.ok(Number((await page.textContent('[data-test=inbox-badge]')).replace(/\D/g, '')) >= 1, 'the header shows unread messages');
  await h.shot(page, 'case-supplement');
  await page.setInputFiles('[data-test=upload-hukou_book]', h.pdfFile('户口簿-清晰.pdf'));
  await page.waitForSelector('[data-test=supplement] [data-test=file-hukou_book]');
  await page.fill('[data-test=supp-comment]', '已重新扫描');
  await page.click('[data-test=supp-submit]');
  await page.waitForFunction(() => !document.querySelector('[data-test=supplement]'));
  await h.settle(page);
  assert.match(await page.textContent('[data-test=timeline]'), /补正材料/);
  await h.axe(page, 'case after supplement');

  // staff finish: accept once the back-end's pre-check passed, pass, approve
  await waitState(id, (k) => k.precheck === 'passed', 'pre-checked');
  await clerk.call('POST', `/cases/${id}/actions`, { action: 'accept' });
  await clerk.call('POST', `/cases/${id}/actions`, { action: 'sign' });
  await clerk.call('POST', `/cases/${id}/actions`, { action: 'pass', opinion: '材料齐全' });
  await leader.call('POST', `/cases/${id}/actions`, { action: 'sign' });
  await leader.call('POST', `/cases/${id}/actions`, { action: 'approve', opinion: '同意' });
  await waitState(id, (k) => k.state === 'closed' || k.state === 'result_issued', 'issued');
  const done = await waitState(id, (k) => k.state === 'closed', 'closed');
  assert.ok(done.result, 'the case has a result');

  await h.visit(page, `/cases/${id}`);
  await page.waitForSelector('[data-test=result]');
  assert.match(await page.textContent('[data-test=state]'), /已办结/);
  await page.click('[data-test=stars] .el-rate__item:nth-child(5)');
  await page.fill('[data-test=eval-comment]', '办事很方便');
  await page.click('[data-test=eval-submit]');
  await page.waitForFunction(() => /5 星/.test(document.querySelector('[data-test=evaluate]')?.textContent || ''));
  await h.axe(page, 'case closed and evaluated');
  await h.shot(page, 'case-closed');

  // the inbox: messages about the case, marked read
  await h.visit(page, '/inbox');
  assert.match(await page.textContent('[data-test=messages]'), /./);
  await h.shot(page, 'inbox');
  await page.click('[data-test=read-all]');
  await page.waitForFunction(() => /\b0 条未读/.test(document.querySelector('[data-test=unread-count]')?.textContent || ''));
  assert.doesNotMatch(await page.textContent('[data-test=inbox-badge]'), /\d/);
});

test('a second case is withdrawn after a confirmation', async () => {
  await h.visit(page, `/items/${ITEM}/apply`);
  await fillGood();
  await page.click('[data-test=apply-form] [data-test=next]');
  await page.waitForSelector('[data-test=apply-materials]');
  for (const s of ['hukou_book', 'birth_cert']) {
    await page.click(`[data-test=reuse-${s}]`);
    await page.waitForSelector('[data-test=library] button');
    await page.click('[data-test=library] li:first-child button');
    await page.waitForSelector(`[data-test=file-${s}]`);
  }
  await page.click('[data-test=apply-materials] [data-test=next]');
  await page.click('[data-test=apply-review] [data-test=submit]');
  await h.confirmDialog(page);
  await page.click('[data-test=to-case]');
  await page.waitForSelector('[data-test=withdraw]');
  await h.settle(page);
  // cancelling keeps the case
  await page.click('[data-test=withdraw]');
  await page.waitForSelector('.el-message-box');
  await page.click('.el-message-box__btns .el-button:not(.el-button--primary)');
  await page.waitForSelector('.el-message-box', { state: 'hidden' });
  assert.match(await page.textContent('[data-test=state]'), /已提交/);
  await page.click('[data-test=withdraw]');
  await h.confirmDialog(page);
  await page.waitForFunction(() => /已撤回/.test(document.querySelector('[data-test=state]')?.textContent || ''));
  assert.equal(await page.locator('[data-test=withdraw]').count(), 0);
  await h.shot(page, 'case-withdrawn');
  // the list filters by state
  await h.visit(page, '/cases?state=withdrawn');
  assert.equal(await page.locator('[data-test=cases] li').count(), 1);
});

test('a bundle from the home page: one form per item on one page; a birth date in the future is flagged as typed', async () => {
  const day = (n) => new Date(Date.now() + n * 86400e3).toISOString().slice(0, 10);
  await h.visit(page, '/');
  await page.click('[data-test=bundle-BND-NEWBORN]');
  await page.waitForURL((u) => u.pathname === '/bundles/BND-NEWBORN/apply');
  await page.waitForSelector('[data-test=part-YB-CB-0001]');
  await h.settle(page);
  await h.axe(page, 'bundle apply');
  const hj = '[data-test=part-GA-HJ-0001]', yb = '[data-test=part-YB-CB-0001]';
  // the rules twin: a birth date in the future breaks "date(form.child_birth_date) <= today()"
  await page.fill(`${hj} [data-test=input-child_birth_date]`, day(5));
  await page.locator(`${hj} [data-test=input-child_birth_date]`).blur();
  await page.waitForSelector(`${hj} [data-test=field-child_birth_date] .el-form-item__error`);
  const msg = await page.textContent(`${hj} [data-test=field-child_birth_date] .el-form-item__error`);
  assert.ok(msg.trim().length > 0, 'a message beside the birth date');
  await h.shot(page, 'bundle-future-date');
  await page.fill(`${hj} [data-test=input-child_birth_date]`, day(-10));
  await page.waitForSelector(`${hj} [data-test=field-child_birth_date] .el-form-item__error`, { state: 'detached' });
  for (const part of [hj, yb]) {
    await page.fill(`${part} [data-test=input-child_name]`, '王小宝');
    await page.fill(`${part} [data-test=input-child_birth_date]`, day(-10));
  }
  await page.click(`${hj} [data-test=opt-child_gender-M]`);
  await page.click(`${hj} [data-test=opt-relation-father]`);
  await page.fill(`${hj} [data-test=input-birth_cert_no]`, 'P500123456');
  await page.fill(`${hj} [data-test=input-hospital]`, '重庆医科大学附属第一医院');
  await page.click(`${yb} [data-test=opt-grade-one]`);
  for (const [part, slot] of [[hj, 'birth_cert'], [hj, 'hukou_book'], [yb, 'birth_cert']]) {
    await page.setInputFiles(`${part} [data-test=upload-${slot}]`, h.pdfFile(`${slot}.pdf`));
    await page.waitForSelector(`${part} [data-test=file-${slot}]`);
  }
  await h.shot(page, 'bundle-apply');
  await page.click('[data-test=bundle-submit]');
  await h.confirmDialog(page);
  await page.waitForSelector('[data-test=bundle-receipt]');
  assert.equal((await page.textContent('[data-test=bundle-receipt]')).match(/EH\d+/g).length, 2);
  await h.axe(page, 'bundle receipt');
  await h.shot(page, 'bundle-receipt');
});

test('the apply page on a 375 px phone, in elder mode and in English', async () => {
  const phone = await h.openPage(browser, srv, { viewport: h.PHONE });
  const p = phone.page;
  await login(p, person);
  await h.visit(p, `/items/${ITEM}/apply`);
  assert.equal(await h.scrollsSideways(p), false, 'the apply form scrolls sideways at 375 px');
  await h.shot(p, 'phone-apply');
  await fillGood(p);
  await p.click('[data-test=apply-form] [data-test=next]');
  await p.waitForSelector('[data-test=apply-materials]');
  await h.settle(p);
  assert.equal(await h.scrollsSideways(p), false, 'the materials step scrolls sideways at 375 px');
  await h.axe(p, 'phone: materials');
  await h.shot(p, 'phone-apply-materials');
  for (const [path, name] of [['/cases', 'phone-cases'], ['/inbox', 'phone-inbox']]) {
    await h.visit(p, path);
    assert.equal(await h.scrollsSideways(p), false, `${path} scrolls sideways at 375 px`);
    await h.shot(p, name);
  }
  const { cases } = await p.evaluate(async () => (await fetch('/api/v1/cases?state=closed')).json());
  await h.visit(p, `/cases/${cases[0].id}`);
  assert.equal(await h.scrollsSideways(p), false, 'a case scrolls sideways at 375 px');
  await h.shot(p, 'phone-case');
  // elder mode and English on the case pages
  await p.click('label.toggle');
  await p.click('[data-test=lang]');
  await p.mouse.move(0, 0);
  await h.settle(p);
  assert.match(await p.textContent('[data-test=timeline]'), /Submit/);
  assert.equal(await h.scrollsSideways(p), false, 'elder mode scrolls sideways at 375 px');
  await h.axe(p, 'phone: case, elder, English');
  await h.shot(p, 'phone-case-elder-en');
  await h.visit(p, `/items/${ITEM}/apply`);
  assert.match(await p.textContent('[data-test=step-note]'), /Step 1 of 3/);
  await h.shot(p, 'phone-apply-elder-en');
  // keyboard: the first form control is reachable with Tab and typing works
  await p.focus('[data-test=input-child_name]');
  await p.keyboard.type('王');
  assert.equal(await p.inputValue('[data-test=input-child_name]'), '王');
  await phone.context.close();
});

test('an enterprise registers, adds a sub-account and authorises then revokes an agent', async () => {
  const e = await h.openPage(browser, srv);
  const p = e.page;
  await h.visit(p, '/register');
  await p.click('[data-test=to-enterprise]');
  await p.waitForURL((u) => u.pathname === '/register/enterprise');
  await h.settle(p);
  await h.axe(p, '/register/enterprise');
  const a = h.personData();
  const ent = { enterprise_name: '重庆某某科技有限公司', uscc: '91350100M000100Y43', legal_rep: '王法人', login: `e${a.login}`, password: a.password, name: a.name, id_number: a.id_number, mobile: a.mobile };
  for (const [k, v] of Object.entries(ent)) await p.fill(`[data-test=register-ent-form] [data-test=${k}]`, v);
  await p.fill('[data-test=captcha]', await h.captchaAnswer(p));
  await p.click('[data-test=send-sms]');
  await h.settle(p);
  await p.fill('[data-test=sms_code]', await srv.sms(a.mobile));
  await h.shot(p, 'register-enterprise');
  await p.click('[data-test=register-ent-form] [data-test=submit]');
  await p.waitForURL((u) => u.pathname === '/login');
  await h.captchaAnswer(p); // let the log-in page's captcha arrive before navigating on
  await login(p, ent);
  await h.visit(p, '/enterprise');
  assert.match(await p.textContent('[data-test=members]'), new RegExp(ent.login));
  await p.fill('[data-test=m-login]', `c${a.login}`);
  await p.fill('[data-test=m-name]', '赵会计');
  await p.click('[data-test=m-submit]');
  await p.waitForSelector('[data-test=one-time] code');
  assert.ok((await p.textContent('[data-test=one-time] code')).trim().length >= 8);
  await h.axe(p, '/enterprise members');
  await h.shot(p, 'enterprise-members');

  // an agent account to authorise (registered through the API)
  const ag = h.apiClient(srv);
  const ad = h.personData();
  const cap = await ag.call('POST', '/captcha', {});
  await ag.call('POST', '/sms/code', { purpose: 'register', mobile: ad.mobile, captcha_id: cap.id, captcha: cap.answer });
  await ag.call('POST', '/auth/register/person', { ...ad, agent: true, sms_code: await srv.sms(ad.mobile) });
  await p.click('#tab-agents');
  await p.fill('[data-test=g-agent]', ad.login);
  const to = new Date(Date.now() + 30 * 86400e3).toISOString().slice(0, 10);
  await p.fill('[data-test=g-to]', to);
  await p.click('[data-test=g-submit]');
  await p.waitForSelector('[data-test=grants] [data-test^=revoke-]');
  await h.axe(p, '/enterprise agents');
  await h.shot(p, 'enterprise-agents');
  await p.click('[data-test=grants] [data-test^=revoke-]');
  await h.confirmDialog(p);
  await p.waitForFunction(() => /已撤销/.test(document.querySelector('[data-test=grants]')?.textContent || ''));
  await e.context.close();
});
