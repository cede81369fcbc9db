// Who is logged in, from GET /api/v1/session: {authenticated, stage, account{id, login,
// kind, admin_role?, enterprise?}, permissions, scope, on_behalf_of? (onBehalfOf here)}.  refreshSession() after every
// log-in step; homeFor() is where an account lands after logging in.
import { reactive } from 'vue';
import { api } from './api.js';

export const session = reactive({
  loaded: false,
  authenticated: false,
  stage: null,
  account: null,
  permissions: [],
  scope: null,
  onBehalfOf: null, // the enterprise id an agent acts for (POST /agent/act), or null
});

export async function refreshSession() {
  const s = await api.get('/session', { noRedirect: true });
  Object.assign(session, {
    loaded: true,
    authenticated: !!s.authenticated,
    stage: s.stage ?? null,
    account: s.account ?? null,
    permissions: s.permissions ?? [],
    scope: s.scope ?? null,
    onBehalfOf: s.on_behalf_of ?? null,
  });
  return session;
}

export function clearSession() {
  Object.assign(session, { authenticated: false, stage: null, account: null, permissions: [], scope: null, onBehalfOf: null });
}

/** The landing route of an account kind: staff → workbench, admin → admin, others → portal. */
export function homeFor(account) {
  if (!account) return '/';
  if (account.kind === 'staff') return '/workbench';
  if (account.kind === 'admin') return '/admin';
  return '/';
}

export const loggedIn = () => session.authenticated && session.stage === 'full';
