// Page views for the portal's visit statistics (POST /api/v1/analytics/pageviews, see
// docs/api.md): one record per page shown, sent when the visitor leaves it (the next
// route, or closing the tab — then with fetch keepalive) so it carries how long the page
// was shown (dwell_ms).  path is the route's path without the query (no search words or
// other input); referrer is the previous page's path, or for the first page the
// document's referrer; visit is an opaque id kept in sessionStorage for this tab's
// visit.  Failures are ignored: statistics never get in the visitor's way.
import { api } from './api.js';

const KEY = 'ehall.visit';
let current = null; // { path, referrer, since }

function visitId() {
  try {
    let v = sessionStorage.getItem(KEY);
    if (!v) {
      const b = new Uint8Array(12);
      crypto.getRandomValues(b);
      v = 'v-' + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
      sessionStorage.setItem(KEY, v);
    }
    return v;
  } catch {
    return undefined; /* storage refused: views without a visit */
  }
}

function send(view, keepalive = false) {
  const body = {
    path: view.path.slice(0, 512),
    visit: visitId(),
    dwell_ms: Math.min(86400000, Math.max(0, Math.round(performance.now() - view.since))),
  };
  if (view.referrer) body.referrer = view.referrer.slice(0, 1024);
  api.post('/analytics/pageviews', body, { noRedirect: true, keepalive }).catch(() => {});
}

/** Call once with the router. */
export function trackPageViews(router) {
  router.afterEach((to, from, failure) => {
    if (failure || (current && current.path === to.path)) return; // the same page, another query
    const referrer = current ? current.path : document.referrer || undefined;
    if (current) send(current);
    current = { path: to.path, referrer, since: performance.now() };
  });
  addEventListener('pagehide', () => {
    if (current) send(current, true);
    current = null;
  });
  addEventListener('pageshow', (e) => {
    // back from the browser's page cache: the page is shown again
    if (e.persisted && !current) current = { path: router.currentRoute.value.path, referrer: undefined, since: performance.now() };
  });
}
