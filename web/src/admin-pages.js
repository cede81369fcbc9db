// The pages of the administration console and the permissions that open each one: the
// console's overview lists only those whose permissions the administrator holds (three
// separate administrators: each sees their own powers only).
export const ADMIN_PAGES = [
  { key: 'org', to: '/admin/org', title: 'adm.org', perms: ['org.dept.manage', 'org.staff.manage', 'org.account.read'] },
  { key: 'items', to: '/admin/items', title: 'adm.items', perms: ['item.manage', 'org.dept.manage'] },
  { key: 'security', to: '/admin/security', title: 'adm.security', perms: ['security.role.manage', 'security.role.assign', 'security.account.unlock', 'security.account.reset', 'security.policy.read'] },
  { key: 'exchange', to: '/admin/exchange', title: 'adm.exchange', perms: ['exchange.read'] },
  { key: 'audit', to: '/admin/audit', title: 'adm.audit', perms: ['audit.read', 'audit.export'] },
  { key: 'notices', to: '/admin/notices', title: 'adm.notices', perms: ['notice.manage'] },
  { key: 'licenceApps', to: '/workbench/licence-apps', title: 'ga.title', perms: ['licence.app.approve'] },
  { key: 'licenceUses', to: '/admin/licence-uses', title: 'adm.licenceUses', perms: ['audit.read'] },
];

/** True when the session holds any of perms. */
export function holds(session, ...perms) {
  return perms.some((p) => session.permissions.includes(p));
}
