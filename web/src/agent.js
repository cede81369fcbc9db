// An agent acting for an enterprise under a grant (docs/api.md "POST /api/v1/agent/act"):
// the session then carries on_behalf_of (session.onBehalfOf) and only ent.apply, ent.file
// and ent.view.  act(grant) starts, act(0) goes back to the agent's own account; both
// replace the session (new cookie and CSRF token) and refresh it here.  acting.name is
// the enterprise's name for the header, looked up in GET /agent/grants.
import { reactive } from 'vue';
import { api } from './api.js';
import { session, refreshSession } from './session.js';

export const acting = reactive({ enterprise: null, name: '' });

/** Today's state of a grant: active, pending (not yet valid), expired or revoked. */
export function grantState(g, now = Date.now() / 1000) {
  if (g.revoked_at) return 'revoked';
  if (now < g.valid_from) return 'pending';
  if (now >= g.valid_to) return 'expired';
  return 'active';
}

/** The enterprise's name while acting ('' otherwise); grants may be passed when at hand. */
export async function actingName(grants) {
  const ent = session.onBehalfOf;
  if (!ent) return Object.assign(acting, { enterprise: null, name: '' }).name;
  if (acting.enterprise === ent && acting.name) return acting.name;
  const list = grants ?? (await api.get('/agent/grants')).grants;
  const g = list.find((x) => x.enterprise === ent);
  Object.assign(acting, { enterprise: ent, name: g?.enterprise_name ?? `#${ent}` });
  return acting.name;
}

/** Act under grant id (0: stop acting); refreshes the session and the name. */
export async function act(grant) {
  await api.post('/agent/act', { grant });
  await refreshSession();
  acting.enterprise = null;
  acting.name = '';
  if (session.onBehalfOf) await actingName();
}
