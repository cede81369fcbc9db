// The portal's public pages: the first screen's budget (≤ 200 KB transferred, compressed,
// interactive ≤ 3 s), elder mode and the English switch (persisted), a 375 px phone with
// no horizontal scrolling, axe on every page.
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

test('the portal home: first screen within 200 KB and interactive within 3 s', async () => {
  // A warm-up visit in its own context, so that the measured one is not the server's first.
  const warm = await h.openPage(browser, srv);
  await warm.page.goto('/');
  await warm.context.close();

  const { context, page, net } = await h.openPage(browser, srv);
  const t0 = Date.now();
  await page.goto('/');
  await page.waitForSelector('[data-test=popular] a');
  await page.waitForSelector('[data-test=bundles] li');
  const interactive = Date.now() - t0;
  await h.settle(page);
  const kb = net.bytes / 1024;
  console.log(`# portal home: ${kb.toFixed(1)} KB transferred in ${net.requests.length} responses, interactive in ${interactive} ms`);
  for (const r of net.requests) console.log(`#   ${(r.bytes / 1024).toFixed(1)} KB  ${r.url}`);
  assert.ok(kb <= 200, `first screen is ${kb.toFixed(1)} KB`);
  assert.ok(interactive <= 3000, `interactive after ${interactive} ms`);
  // the assets came compressed
  const js = net.requests.find((r) => /\/assets\/index-.*\.js$/.test(r.url));
  assert.ok(js, 'the entry script was loaded');
  const res = await page.request.get(js.url, { headers: { 'Accept-Encoding': 'gzip' } });
  assert.equal(res.headers()['content-encoding'], 'gzip');
  // the page shows items and bundles from the API, and the search box works
  assert.ok((await page.locator('[data-test=popular] li').count()) >= 4);
  assert.match(await page.textContent('[data-test=bundles]'), /出生一件事/);
  await h.axe(page, '/');
  await h.shot(page, 'home');
  await page.fill('[data-test=search]', '出生');
  await page.keyboard.press('Enter');
  await page.waitForURL('**/items?q=*');
  await h.settle(page);
  assert.match(await page.textContent('[data-test=results]'), /出生/);
  assert.match(await page.textContent('[data-test=crumbs]'), /首页.*办事事项/);
  await h.axe(page, '/items?q=出生');
  await h.shot(page, 'items');
  await page.click('[data-test=results] a');
  await page.waitForSelector('[data-test=guide]');
  await h.settle(page);
  await h.axe(page, 'item guide');
  await h.shot(page, 'item-guide');
  await context.close();
});

test('elder mode and the English switch persist across pages and reloads', async () => {
  const { context, page } = await h.openPage(browser, srv);
  await h.visit(page, '/');
  const size = () => page.evaluate(() => parseFloat(getComputedStyle(document.documentElement).fontSize));
  const normal = await size();
  await page.click('label.toggle'); // the elder-mode switch
  assert.ok(await page.evaluate(() => document.documentElement.classList.contains('elder')));
  assert.ok((await size()) >= normal * 1.25, 'elder mode enlarges the type');
  await h.axe(page, '/ (elder)');
  await h.shot(page, 'home-elder');
  await page.click('[data-test=lang]');
  assert.equal(await page.getAttribute('html', 'lang'), 'en');
  assert.match(await page.textContent('[data-test=brand]'), /Online Government Service Hall/);
  await page.reload();
  await h.settle(page);
  assert.ok(await page.evaluate(() => document.documentElement.classList.contains('elder')), 'elder mode persists');
  assert.match(await page.textContent('h2#h-popular'), /Popular services/);
  await h.visit(page, '/register');
  assert.match(await page.textContent('h1'), /Register/);
  await h.shot(page, 'register-en-elder');
  await page.click('[data-test=lang]');
  assert.equal(await page.getAttribute('html', 'lang'), 'zh-CN');
  await context.close();
});

test('a 375 px phone: no horizontal scrolling, usable by keyboard', async () => {
  const { context, page } = await h.openPage(browser, srv, { viewport: h.PHONE });
  for (const [path, name] of [['/', 'phone-home'], ['/items', 'phone-items'], ['/register', 'phone-register'], ['/login', 'phone-login'], ['/nowhere', 'phone-404']]) {
    await h.visit(page, path);
    assert.equal(await h.scrollsSideways(page), false, `${path} scrolls sideways at 375 px`);
    await h.shot(page, name);
  }
  // elder mode on a phone too
  await h.visit(page, '/');
  await page.click('label.toggle');
  assert.equal(await h.scrollsSideways(page), false, 'elder mode scrolls sideways at 375 px');
  await h.shot(page, 'phone-home-elder');
  // keyboard: the skip link comes first and leads to the main content
  await page.reload();
  await h.settle(page);
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.className), 'skip');
  await page.keyboard.press('Enter');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'main');
  // and on to the search box, where Enter searches
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'home-q');
  await context.close();
});
