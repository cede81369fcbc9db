// Staff: a new staff member's first log-in (password change, TOTP enrolment) lands on the
// workbench, which shows the counts of the five queues and lists a queue's cases.
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

test('staff land on the workbench with their queue counts', async () => {
  const staff = await h.newStaff(srv, { deptCode: 'PSB-YZ', roles: ['hj_clerk'] });
  const { context, page } = await h.openPage(browser, srv);
  await h.firstLoginUI(page, staff.login, staff.one_time_password, { digest: 'SM3', landing: '/workbench' });
  await page.waitForSelector('[data-test=counts]');
  for (const q of ['to_sign', 'in_progress', 'near_due', 'overdue', 'done'])
    assert.match(await page.textContent(`[data-test=queue-${q}]`), /^\s*\d+/);
  await page.click('[data-test=queue-to_sign]');
  await h.settle(page);
  assert.match(await page.textContent('#h-cases'), /待签收/);
  await h.axe(page, '/workbench');
  await h.shot(page, 'workbench');
  // staff are not let into the administration console
  await page.goto('/admin');
  await page.waitForURL((u) => u.pathname === '/workbench');
  await context.close();
});
