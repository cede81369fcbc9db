// One case from end to end with every person in the browser: a citizen registers, logs
// in and applies for GA-HJ-0002 with materials; a clerk signs for it in the workbench and
// asks for a supplement; the citizen supplies it; the clerk accepts, the reviewer passes
// it on, the leader approves; the citizen sees the result and evaluates.  axe runs on
// every page visited; screenshots go to build/screenshots/ (flow-*).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as h from './helpers.mjs';

let srv, browser;

before(async () => {
  srv = await h.startServer();
  browser = await h.launch();
});
after(async () => {
  await browser?.close();
  await srv?.stop();
});

async function staffPage(deptCode, role) {
  const s = await h.newStaff(srv, { deptCode, roles: [role] });
  const { context, page } = await h.openPage(browser, srv);
  await h.firstLoginUI(page, s.login, s.one_time_password, { digest: 'SM3', landing: '/workbench' });
  return { context, page };
}

async function act(page, action, opinion) {
  await page.click(`[data-test=act-${action}]`);
  if (opinion !== undefined) await page.fill('[data-test=opinion]', opinion);
  await page.click('[data-test=act-submit]');
  await h.settle(page);
}

async function caseState(page, id) {
  return page.evaluate(async (u) => (await fetch(u)).json(), `/api/v1/cases/${id}`);
}

async function waitCase(page, id, pred, what) {
  for (let i = 0; i < 150; i++) {
    const k = await caseState(page, id);
    if (pred(k)) return k;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`case ${id}: never ${what}`);
}

test('apply, sign, supplement, accept, pass, approve, result and evaluation — all in the browser', async () => {
  // the citizen applies
  const { context: actx, page: ap } = await h.openPage(browser, srv);
  const person = await h.registerUI(ap, srv);
  await h.loginUI(ap, person.login, person.password);
  await ap.waitForURL((u) => u.pathname !== '/login');
  await h.visit(ap, '/items/GA-HJ-0002');
  await ap.click('[data-test=apply]');
  await ap.waitForSelector('[data-test=apply-form]');
  await h.settle(ap);
  await ap.fill('[data-test=input-child_name]', '李思远');
  await ap.fill('[data-test=input-child_id_number]', '500103201503010520');
  await ap.fill('[data-test=input-from_address]', '四川省成都市武侯区人民南路四段1号');
  await ap.fill('[data-test=input-reason]', '随母亲生活');
  await ap.click('[data-test=opt-origin-out_city]');
  await ap.click('[data-test=opt-relation-mother]');
  await ap.click('[data-test=apply-form] [data-test=next]');
  await ap.waitForSelector('[data-test=apply-materials]');
  for (const [slot, name] of [['hukou_book', '户口簿.pdf'], ['birth_cert', '出生医学证明.pdf'], ['move_cert', '准迁证.pdf']]) {
    await ap.setInputFiles(`[data-test=upload-${slot}]`, h.pdfFile(name));
    await ap.waitForSelector(`[data-test=file-${slot}]`);
  }
  await ap.click('[data-test=apply-materials] [data-test=next]');
  await ap.waitForSelector('[data-test=apply-review]');
  await ap.click('[data-test=apply-review] [data-test=submit]');
  await ap.waitForSelector('.el-message-box');
  await ap.click('.el-message-box__btns .el-button--primary');
  await ap.waitForSelector('[data-test=receipt]');
  const caseNo = (await ap.textContent('[data-test=case-no]')).trim();
  assert.match(caseNo, /^EH\d+/);
  await h.shot(ap, 'flow-receipt');
  await ap.click('[data-test=to-case]');
  await ap.waitForSelector('[data-test=timeline]');
  const id = Number(new URL(ap.url()).pathname.split('/').pop());
  assert.ok(id > 0);
  await waitCase(ap, id, (k) => k.precheck === 'passed', 'pre-checked');

  // the clerk signs for it and asks for a clearer copy of the move certificate
  const clerk = await staffPage('PSB-YZ-HJ', 'hj_clerk');
  await h.visit(clerk.page, `/workbench/cases/${id}`);
  await clerk.page.click('[data-test=act-sign]');
  await h.settle(clerk.page);
  await clerk.page.click('[data-test=act-supplement]');
  await clerk.page.click('[data-test=sup-move_cert]');
  await clerk.page.fill('[data-test=opinion]', '准迁证明不清晰，请重新上传');
  await clerk.page.click('[data-test=act-submit]');
  await clerk.page.waitForFunction(() => document.querySelector('[data-test=state]')?.dataset.state === 'supplement');
  await h.shot(clerk.page, 'flow-supplement-asked');

  // the citizen supplies it
  await h.visit(ap, `/cases/${id}`);
  await ap.waitForSelector('[data-test=supplement]');
  assert.match(await ap.textContent('[data-test=supplement]'), /准迁证明不清晰/);
  await ap.setInputFiles('[data-test=upload-move_cert]', h.pdfFile('准迁证-清晰.pdf'));
  await ap.waitForSelector('[data-test=supplement] [data-test=file-move_cert]');
  await ap.fill('[data-test=supp-comment]', '已重新扫描');
  await ap.click('[data-test=supp-submit]');
  await ap.waitForFunction(() => !document.querySelector('[data-test=supplement]'));
  await h.shot(ap, 'flow-supplied');

  // the clerk accepts; the reviewer passes it on; the leader approves
  await clerk.page.reload();
  await h.settle(clerk.page);
  await clerk.page.waitForSelector('[data-test=act-accept]');
  await act(clerk.page, 'accept', '材料齐全，予以受理');
  await clerk.page.waitForFunction(() => document.querySelector('[data-test=state]')?.dataset.state === 'in_review');
  await clerk.context.close();
  const rev = await staffPage('PSB-YZ-HJ', 'hj_reviewer');
  await h.visit(rev.page, `/workbench/cases/${id}`);
  await rev.page.click('[data-test=act-sign]');
  await h.settle(rev.page);
  await act(rev.page, 'pass', '审核通过');
  await rev.context.close();
  const lead = await staffPage('PSB-YZ', 'hj_leader');
  await h.visit(lead.page, `/workbench/cases/${id}`);
  await lead.page.click('[data-test=act-sign]');
  await h.settle(lead.page);
  await act(lead.page, 'approve', '同意落户');
  await lead.page.waitForFunction(() =>
    ['approved', 'result_issued', 'closed'].includes(document.querySelector('[data-test=state]')?.dataset.state),
  );
  const log = await lead.page.textContent('[data-test=log]');
  for (const w of ['签收', '要求补正', '补正材料', '受理', '送下一环节', '批准']) assert.match(log, new RegExp(w));
  await h.shot(lead.page, 'flow-approved');
  await lead.context.close();

  // the citizen sees the result and evaluates
  await waitCase(ap, id, (k) => k.state === 'closed', 'closed');
  await h.visit(ap, `/cases/${id}`);
  await ap.waitForSelector('[data-test=result]');
  assert.match(await ap.textContent('[data-test=state]'), /已办结/);
  await ap.click('[data-test=stars] .el-rate__item:nth-child(5)');
  await ap.fill('[data-test=eval-comment]', '全程网办，很方便');
  await ap.click('[data-test=eval-submit]');
  await ap.waitForFunction(() => /5 星/.test(document.querySelector('[data-test=evaluate]')?.textContent || ''));
  await h.axe(ap, 'case closed and evaluated');
  await h.shot(ap, 'flow-evaluated');
  const k = await caseState(ap, id);
  assert.equal(k.evaluation.score, 5);
  assert.ok(k.result, 'the back-end issued a result');
  await actx.close();
});
