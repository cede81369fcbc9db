// The staff workbench in a real browser: a person applies through the API for
// GA-HJ-0002 (随父母落户) with a PDF and a PNG; the clerk (hj_clerk, PSB-YZ-HJ) signs for
// it in the UI, looks at the materials (image zoom and rotate; the PDF's links), asks for
// a supplement naming a material with an opinion; the person supplements through the
// API; the clerk accepts; the reviewer (hj_reviewer) passes it and the leader (hj_leader,
// PSB-YZ) approves it, each through the UI.  Two more cases signed by the clerk are made
// near-due and overdue in the database, and the queues mark them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as h from './helpers.mjs';

let srv, browser, person;
const cases = [];
const FORM = {
  child_name: '李思远',
  child_id_number: '500103201503010520',
  origin: 'out_city',
  from_address: '四川省成都市武侯区人民南路四段1号',
  relation: 'mother',
  reason: '随母亲生活',
};

before(async () => {
  srv = await h.startServer();
  browser = await h.launch();
  const p = await h.newPerson(srv);
  person = await h.accountApi(srv, p.login, p.password);
  const pdf = await person.upload('户口簿.pdf', h.smallPdf('hukou'));
  const png = await person.upload('出生医学证明.png', h.smallPng());
  const move = await person.upload('准迁证.pdf', h.smallPdf('move'));
  for (let i = 0; i < 3; i++) {
    const c = await person.call('POST', '/cases', {
      item: 'GA-HJ-0002',
      form: { ...FORM, reason: `随母亲生活 ${i}` },
      materials: { hukou_book: [pdf.id], birth_cert: [png.id], ...(i === 0 ? {} : { move_cert: [move.id] }) },
      submit: true,
      idempotency_key: `staff-e2e-${i}-${Date.now()}`,
    });
    cases.push(c.id);
  }
  // the back-end's pre-check passes each case through the exchange
  for (const id of cases) {
    for (let i = 0; ; i++) {
      const c = await person.call('GET', `/cases/${id}`);
      if (c.precheck === 'passed') break;
      if (i > 100) throw new Error(`case ${id}: precheck ${c.precheck}, state ${c.state}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
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

async function act(page, action, { opinion, confirm } = {}) {
  await page.click(`[data-test=act-${action}]`);
  if (opinion !== undefined) await page.fill('[data-test=opinion]', opinion);
  await page.click('[data-test=act-submit]');
  if (confirm) await page.click('.el-message-box .el-button--primary');
  await h.settle(page);
}

const state = (page) => page.getAttribute('[data-test=state]', 'data-state');

test('a clerk signs for a case, views its materials, asks for a supplement and accepts it; review and approval follow', async () => {
  const [id] = cases;
  const clerk = await staffPage('PSB-YZ-HJ', 'hj_clerk');
  let page = clerk.page;
  await page.waitForSelector('[data-test=counts]');
  assert.match(await page.textContent('[data-test=queue-to_sign]'), /^\s*3/);
  await page.waitForSelector('[data-test=chart] svg');
  await h.shot(page, 'workbench-counts');
  await page.click('[data-test=queue-to_sign]');
  await page.waitForSelector(`[data-test=case-${id}]`);
  await h.axe(page, '/workbench?q=to_sign');
  await h.shot(page, 'workbench-queue');
  // the item filter: another item's code empties the list
  await page.fill('[data-test=item-filter]', 'SW-DJ-0001');
  await page.press('[data-test=item-filter]', 'Enter');
  await page.waitForSelector('[data-test=empty]');
  await page.fill('[data-test=item-filter]', 'GA-HJ-0002');
  await page.press('[data-test=item-filter]', 'Enter');
  await page.waitForSelector(`[data-test=case-${id}]`);

  await page.click(`[data-test=case-${id}] a`);
  await page.waitForURL((u) => u.pathname === `/workbench/cases/${id}`);
  await h.settle(page);
  await h.axe(page, 'case before signing');
  // the form is shown with the item's labels and dictionary words
  const formText = await page.textContent('[data-test=form-data]');
  assert.match(formText, /子女姓名\s*李思远/);
  assert.match(formText, /市外迁入/);
  assert.match(await page.textContent('[data-test=log]'), /提交申请/);
  await page.click('[data-test=act-sign]');
  await h.settle(page);
  await page.waitForSelector('[data-test=act-supplement]');

  // materials: the image zooms and rotates; the PDF offers a new tab and a download
  await page.click('[data-test=view-birth_cert]');
  await page.waitForSelector('[data-test=image]');
  await page.waitForFunction(() => document.querySelector('[data-test=image]').naturalWidth > 0);
  await page.click('[data-test=zoom-in]');
  await page.click('[data-test=rotate]');
  assert.equal(await page.textContent('[data-test=zoom]'), '125%');
  assert.equal(await page.getAttribute('[data-test=image]', 'data-turn'), '90');
  await h.axe(page, 'material viewer (image)');
  await h.shot(page, 'material-viewer');
  await page.keyboard.press('Escape');
  await page.click('[data-test=view-hukou_book]');
  await page.waitForSelector('[data-test=doc]');
  const href = await page.getAttribute('[data-test=open-new]', 'href');
  const pdf = await page.evaluate(async (u) => {
    const r = await fetch(u);
    return { status: r.status, type: r.headers.get('content-type'), head: (await r.text()).slice(0, 5) };
  }, href);
  assert.deepEqual(pdf, { status: 200, type: 'application/pdf', head: '%PDF-' });
  await page.keyboard.press('Escape');

  // a supplement request: a material ticked, an opinion (required: checked before sending)
  await page.click('[data-test=act-supplement]');
  await page.click('[data-test=act-submit]');
  await page.waitForSelector('text=请至少勾选一项需要补正的材料');
  await page.click('[data-test=sup-move_cert]');
  await page.fill('[data-test=opinion]', '请补充子女的准迁证明');
  await h.shot(page, 'case-supplement-form');
  await page.click('[data-test=act-submit]');
  await h.settle(page);
  await page.waitForFunction(() => document.querySelector('[data-test=state]')?.dataset.state === 'supplement');
  assert.match(await page.textContent('[data-test=log]'), /请补充子女的准迁证明/);

  // the applicant supplies it through the API
  const m = await person.upload('准迁证明.pdf', h.smallPdf('supplied'));
  await person.call('POST', `/cases/${id}/supplement`, { materials: { move_cert: [m.id] }, comment: '已补充' });
  await page.reload();
  await h.settle(page);
  await page.waitForSelector('[data-test=act-accept]');
  await act(page, 'accept', { opinion: '材料齐全，予以受理' });
  await page.waitForFunction(() => document.querySelector('[data-test=state]')?.dataset.state === 'in_review');
  assert.match(await page.textContent('[data-test=no-actions]'), /没有/);
  await h.shot(page, 'case-accepted');

  // the reviewer passes it on
  const rev = await staffPage('PSB-YZ-HJ', 'hj_reviewer');
  page = rev.page;
  await h.visit(page, `/workbench/cases/${id}`);
  await page.click('[data-test=act-sign]');
  await h.settle(page);
  // a return asks for confirmation; cancelling leaves the case where it was
  await page.click('[data-test=act-return]');
  await page.fill('[data-test=opinion]', '退回重审');
  await page.click('[data-test=act-submit]');
  await page.waitForSelector('.el-message-box');
  await h.shot(page, 'case-confirm-return');
  await page.click('.el-message-box .el-button:not(.el-button--primary)');
  await page.waitForSelector('.el-message-box', { state: 'hidden' });
  await act(page, 'pass', { opinion: '审核通过' });
  // the case left the reviewer's department for the leader's: the page says so
  await page.waitForSelector('[data-test=gone]');
  await h.axe(page, 'case passed on');
  await rev.context.close();

  // the leader approves
  const lead = await staffPage('PSB-YZ', 'hj_leader');
  page = lead.page;
  await h.visit(page, `/workbench?q=to_sign`);
  await page.click(`[data-test=case-${id}] a`);
  await h.settle(page);
  await page.click('[data-test=act-sign]');
  await h.settle(page);
  await act(page, 'approve', { opinion: '同意落户' });
  await page.waitForFunction(() => ['approved', 'result_issued', 'closed'].includes(document.querySelector('[data-test=state]')?.dataset.state));
  const log = await page.textContent('[data-test=log]');
  for (const w of ['签收', '要求补正', '补正材料', '受理', '送下一环节', '批准']) assert.match(log, new RegExp(w));
  await h.axe(page, 'approved case');
  await h.shot(page, 'case-approved');
  await lead.context.close();

  // near-due and overdue: two cases the clerk signs for, their step deadlines moved
  page = clerk.page;
  for (const other of cases.slice(1)) {
    await h.visit(page, `/workbench/cases/${other}`);
    await page.click('[data-test=act-sign]');
    await h.settle(page);
  }
  const today = h.calendarToday();
  h.sql(srv, `UPDATE ecase SET step_due = ${today} WHERE id = ${cases[1]}; UPDATE ecase SET step_due = ${today - 3} WHERE id = ${cases[2]};`);
  await h.visit(page, '/workbench?q=in_progress');
  await page.waitForSelector(`[data-test=case-${cases[2]}]`);
  assert.equal(await page.getAttribute(`[data-test=case-${cases[1]}]`, 'data-deadline'), 'near_due');
  assert.equal(await page.getAttribute(`[data-test=case-${cases[2]}]`, 'data-deadline'), 'overdue');
  assert.match(await page.textContent(`[data-test=case-${cases[2]}] [data-test=deadline-flag]`), /已超期/);
  assert.match(await page.textContent('[data-test=queue-overdue]'), /^\s*1/);
  assert.match(await page.textContent('[data-test=queue-near_due]'), /^\s*1/);
  await h.shot(page, 'workbench-deadlines');
  await h.visit(page, `/workbench/cases/${cases[2]}`);
  assert.match(await page.textContent('[data-test=case-deadline]'), /已超期/);
  await h.shot(page, 'case-overdue');

  // English, elder mode and a phone: the same page, no sideways scrolling
  await page.click('[data-test=lang]');
  await page.click('.toggle');
  await page.setViewportSize(h.PHONE);
  await h.settle(page);
  assert.match(await page.textContent('[data-test=case-deadline]'), /Overdue/);
  assert.equal(await h.scrollsSideways(page), false);
  await h.axe(page, 'case, English, elder, phone');
  await h.shot(page, 'case-phone-elder-en');
  await h.visit(page, '/workbench?q=in_progress');
  assert.equal(await h.scrollsSideways(page), false);
  await h.shot(page, 'workbench-phone-elder-en');
  await clerk.context.close();
});
