// Every page of the UI, each loaded only when first visited (import() = its own chunk).
// meta: title (dictionary key), crumbs (the trail above the page: [{title, to}] of the
// levels before it), auth ('session' = completed log-in needed), kinds (account kinds
// allowed; others are sent to their own home).  To add a page: a file in pages/, a
// line here, its words in i18n.js, and a test in web/e2e/.
import { createRouter, createWebHistory } from 'vue-router';
import { session, refreshSession, homeFor, loggedIn } from './session.js';
import { setUnauthenticatedHandler } from './api.js';

const home = { title: 'nav.home', to: '/' };

const routes = [
  { path: '/', component: () => import('./pages/Home.vue'), meta: { title: 'home.title', crumbs: [] } },
  { path: '/items', component: () => import('./pages/Items.vue'), meta: { title: 'items.title', crumbs: [home] } },
  {
    path: '/items/:code',
    component: () => import('./pages/ItemGuide.vue'),
    meta: { title: 'items.guide', crumbs: [home, { title: 'items.title', to: '/items' }] },
  },
  { path: '/register', component: () => import('./pages/Register.vue'), meta: { title: 'register.title', crumbs: [home] } },
  { path: '/login', component: () => import('./pages/Login.vue'), meta: { title: 'login.title', crumbs: [home] } },
  {
    path: '/account',
    component: () => import('./pages/Account.vue'),
    meta: { title: 'account.title', crumbs: [home], auth: 'session' },
  },
  {
    path: '/workbench',
    component: () => import('./pages/Workbench.vue'),
    meta: { title: 'workbench.title', crumbs: [home], auth: 'session', kinds: ['staff'] },
  },
  {
    path: '/admin',
    component: () => import('./pages/Admin.vue'),
    meta: { title: 'admin.title', crumbs: [home], auth: 'session', kinds: ['admin'] },
  },
  // staff and administration
  {
    path: '/workbench/cases/:id(\\d+)',
    component: () => import('./pages/CaseWork.vue'),
    meta: { title: 'cw.title', crumbs: [home, { title: 'workbench.title', to: '/workbench' }], auth: 'session', kinds: ['staff'] },
  },
  { path: '/admin/org', component: () => import('./pages/AdminOrg.vue'), meta: { title: 'adm.org', crumbs: [home, { title: 'admin.title', to: '/admin' }], auth: 'session', kinds: ['admin'] } },
  { path: '/admin/items', component: () => import('./pages/AdminItems.vue'), meta: { title: 'adm.items', crumbs: [home, { title: 'admin.title', to: '/admin' }], auth: 'session', kinds: ['admin'] } },
  { path: '/admin/security', component: () => import('./pages/AdminSecurity.vue'), meta: { title: 'adm.security', crumbs: [home, { title: 'admin.title', to: '/admin' }], auth: 'session', kinds: ['admin'] } },
  { path: '/admin/exchange', component: () => import('./pages/AdminExchange.vue'), meta: { title: 'adm.exchange', crumbs: [home, { title: 'admin.title', to: '/admin' }], auth: 'session', kinds: ['admin', 'staff'] } },
  { path: '/admin/audit', component: () => import('./pages/AuditLog.vue'), meta: { title: 'adm.audit', crumbs: [home, { title: 'admin.title', to: '/admin' }], auth: 'session', kinds: ['admin'] } },
  // portal: cases
  { path: '/items/:code/apply', component: () => import('./pages/Apply.vue'), meta: { title: 'apply.crumb', crumbs: [home, { title: 'items.title', to: '/items' }], auth: 'session', kinds: ['person', 'enterprise', 'agent'] } },
  { path: '/bundles/:code/apply', component: () => import('./pages/ApplyBundle.vue'), meta: { title: 'bundle.title', crumbs: [home], auth: 'session', kinds: ['person', 'enterprise', 'agent'] } },
  { path: '/cases', component: () => import('./pages/MyCases.vue'), meta: { title: 'cases.title', crumbs: [home], auth: 'session', kinds: ['person', 'enterprise', 'agent'] } },
  { path: '/cases/:id', component: () => import('./pages/CaseDetail.vue'), meta: { title: 'case.title', crumbs: [home, { title: 'cases.title', to: '/cases' }], auth: 'session', kinds: ['person', 'enterprise', 'agent'] } },
  { path: '/inbox', component: () => import('./pages/Inbox.vue'), meta: { title: 'inbox.title', crumbs: [home], auth: 'session' } },
  { path: '/register/enterprise', component: () => import('./pages/RegisterEnterprise.vue'), meta: { title: 'ent.registerTitle', crumbs: [home, { title: 'register.title', to: '/register' }] } },
  { path: '/enterprise', component: () => import('./pages/Enterprise.vue'), meta: { title: 'ent.title', crumbs: [home], auth: 'session', kinds: ['enterprise'] } },
  { path: '/agent', component: () => import('./pages/Agent.vue'), meta: { title: 'agent.title', crumbs: [home], auth: 'session', kinds: ['agent'] } },
  { path: '/:rest(.*)*', component: () => import('./pages/NotFound.vue'), meta: { title: 'notfound.title', crumbs: [home] } },
];

export const router = createRouter({
  history: createWebHistory(),
  routes,
  scrollBehavior: () => ({ top: 0 }),
});

router.beforeEach(async (to) => {
  if (!session.loaded) {
    try {
      await refreshSession();
    } catch {
      /* the page itself will show the network error */
    }
  }
  if (to.meta.auth === 'session' && !loggedIn()) return { path: '/login', query: { next: to.fullPath } };
  if (to.meta.kinds && !to.meta.kinds.includes(session.account?.kind)) return homeFor(session.account);
  return true;
});

setUnauthenticatedHandler(() => {
  session.authenticated = false;
  const here = router.currentRoute.value;
  if (here.meta.auth === 'session') router.push({ path: '/login', query: { next: here.fullPath } });
});

// portal extras: notices, the materials library, the notices' administration; page views
import { trackPageViews } from './pageviews.js';
router.addRoute({ path: '/notices', component: () => import('./pages/Notices.vue'), meta: { title: 'notice.title', crumbs: [home] } });
router.addRoute({ path: '/notices/:id(\\d+)', component: () => import('./pages/NoticeDetail.vue'), meta: { title: 'notice.one', crumbs: [home, { title: 'notice.title', to: '/notices' }] } });
router.addRoute({ path: '/materials', component: () => import('./pages/Materials.vue'), meta: { title: 'mat.title', crumbs: [home], auth: 'session', kinds: ['person', 'enterprise', 'agent'] } });
router.addRoute({ path: '/admin/notices', component: () => import('./pages/AdminNotices.vue'), meta: { title: 'adm.notices', crumbs: [home, { title: 'admin.title', to: '/admin' }], auth: 'session', kinds: ['admin'] } });
trackPageViews(router);
// tax (税务): the taxpayers I act for, a taxpayer's calendar and declarations, filing and
// correcting; the staff's taxpayer registration
const taxCrumb = { title: 'tax.title', to: '/tax' };
const portalKinds = ['person', 'enterprise', 'agent'];
router.addRoute({ path: '/tax', component: () => import('./pages/TaxHome.vue'), meta: { title: 'tax.title', crumbs: [home], auth: 'session', kinds: portalKinds } });
router.addRoute({ path: '/tax/:id(\\d+)', component: () => import('./pages/TaxTaxpayer.vue'), meta: { title: 'tax.calendar', crumbs: [home, taxCrumb], auth: 'session', kinds: portalKinds } });
router.addRoute({ path: '/tax/:id(\\d+)/declare', component: () => import('./pages/TaxDeclare.vue'), meta: { title: 'tax.dTitle', crumbs: [home, taxCrumb], auth: 'session', kinds: portalKinds } });
router.addRoute({ path: '/tax/declarations/:id(\\d+)', component: () => import('./pages/TaxDeclaration.vue'), meta: { title: 'tax.dec', crumbs: [home, taxCrumb], auth: 'session', kinds: portalKinds } });
router.addRoute({ path: '/workbench/taxpayers', component: () => import('./pages/TaxStaff.vue'), meta: { title: 'tax.staffTitle', crumbs: [home, { title: 'workbench.title', to: '/workbench' }], auth: 'session', kinds: ['staff'] } });

// electronic licences: the wallet, public verification, the staff's four-role flow, revocation, the types catalog
const wb = { title: 'workbench.title', to: '/workbench' };
const lw = { title: 'lw.title', to: '/workbench/licences' };
router.addRoute({ path: '/licences', component: () => import('./pages/Licences.vue'), meta: { title: 'lic.title', crumbs: [home], auth: 'session', kinds: ['person', 'enterprise', 'agent'] } });
router.addRoute({ path: '/licences/:id', component: () => import('./pages/LicenceDetail.vue'), meta: { title: 'lic.detail', crumbs: [home, { title: 'lic.title', to: '/licences' }], auth: 'session', kinds: ['person', 'enterprise', 'agent'] } });
router.addRoute({ path: '/verify/licence/:id?', component: () => import('./pages/VerifyLicence.vue'), meta: { title: 'vl.title', crumbs: [home] } });
router.addRoute({ path: '/workbench/licences', component: () => import('./pages/LicenceWork.vue'), meta: { title: 'lw.title', crumbs: [home, wb], auth: 'session', kinds: ['staff'] } });
router.addRoute({ path: '/workbench/licences/new', component: () => import('./pages/LicenceEntryNew.vue'), meta: { title: 'le.title', crumbs: [home, wb, lw], auth: 'session', kinds: ['staff'] } });
router.addRoute({ path: '/workbench/licences/revoke', component: () => import('./pages/LicenceRevoke.vue'), meta: { title: 'lr.title', crumbs: [home, wb, lw], auth: 'session', kinds: ['staff'] } });
router.addRoute({ path: '/workbench/licences/:id(\\d+)', component: () => import('./pages/LicenceEntryWork.vue'), meta: { title: 'ew.title', crumbs: [home, wb, lw], auth: 'session', kinds: ['staff'] } });
router.addRoute({ path: '/workbench/licence-types', component: () => import('./pages/LicenceTypes.vue'), meta: { title: 'lt.title', crumbs: [home, wb], auth: 'session', kinds: ['staff', 'admin'] } });
// tax payment and invoices (three-party agreements, paying, vouchers, certificates, e-invoices with red-letter reversal) and the public tax look-ups
router.addRoute({ path: '/tax/payments/:id(\\d+)', component: () => import('./pages/TaxPayment.vue'), meta: { title: 'tp.payments', crumbs: [home, taxCrumb], auth: 'session', kinds: portalKinds } });
router.addRoute({ path: '/tax/:id(\\d+)/invoices/new', component: () => import('./pages/TaxInvoiceNew.vue'), meta: { title: 'tp.i.newTitle', crumbs: [home, taxCrumb], auth: 'session', kinds: portalKinds } });
router.addRoute({ path: '/tax/invoices/:id(\\d+)', component: () => import('./pages/TaxInvoice.vue'), meta: { title: 'tp.invoices', crumbs: [home, taxCrumb], auth: 'session', kinds: portalKinds } });
router.addRoute({ path: '/verify/invoice', component: () => import('./pages/TaxVerifyInvoice.vue'), meta: { title: 'tp.v.title', crumbs: [home] } });
router.addRoute({ path: '/tax/lookup', component: () => import('./pages/TaxLookup.vue'), meta: { title: 'tp.l.title', crumbs: [home] } });
// licence sharing: the public page of a share code, the gateway's applications (staff register, the approver decides), the auditor's usage log
router.addRoute({ path: '/verify/share/:code', component: () => import('./pages/VerifyShare.vue'), meta: { title: 'vs.title', crumbs: [home] } });
router.addRoute({ path: '/workbench/licence-apps', component: () => import('./pages/LicenceApps.vue'), meta: { title: 'ga.title', crumbs: [home], auth: 'session', kinds: ['staff', 'admin'] } });
router.addRoute({ path: '/admin/licence-uses', component: () => import('./pages/AdminLicenceUses.vue'), meta: { title: 'adm.licenceUses', crumbs: [home, { title: 'admin.title', to: '/admin' }], auth: 'session', kinds: ['admin'] } });
