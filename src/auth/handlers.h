/*
 * handlers.h — the identity endpoints, as listed in src/api/routes.c.
 */
#ifndef EHALL_AUTH_HANDLERS_H
#define EHALL_AUTH_HANDLERS_H

#include "http/http.h"

/* session.c, captcha.c, sms.c, login.c — getting in and out */
int auth_session_info(http_req *r);
int auth_captcha_new(http_req *r);
int auth_sms_code(http_req *r);
int auth_register_person(http_req *r);
int auth_register_enterprise(http_req *r);
int auth_login(http_req *r);
int auth_mfa(http_req *r);
int auth_mfa_sms(http_req *r);
int auth_cert_challenge(http_req *r);
int auth_cert_login(http_req *r);
int auth_logout(http_req *r);
int auth_test_sms(http_req *r);

/* account.c — the holder's own account */
int account_me(http_req *r);
int account_password(http_req *r);
int account_totp_setup(http_req *r);
int account_totp_confirm(http_req *r);
int account_mfa(http_req *r);
int account_cert_add(http_req *r);
int account_cert_revoke(http_req *r);
int account_sessions(http_req *r);
int account_sessions_end(http_req *r);
int account_logins(http_req *r);
int account_close(http_req *r);

/* admin.c — administrators, enterprises and agents */
int admin_dept_create(http_req *r);
int admin_dept_list(http_req *r);
int admin_staff_create(http_req *r);
int admin_account_list(http_req *r);
int admin_account_get(http_req *r);
int admin_account_unlock(http_req *r);
int admin_account_reset(http_req *r);
int admin_account_disable(http_req *r);
int admin_account_enable(http_req *r);
int admin_permissions(http_req *r);
int admin_role_list(http_req *r);
int admin_role_put(http_req *r);
int admin_account_roles(http_req *r);
int ent_member_add(http_req *r);
int ent_member_perms(http_req *r);
int ent_member_list(http_req *r);
int ent_agent_grant(http_req *r);
int ent_agent_revoke(http_req *r);
int ent_agent_list(http_req *r);
int agent_grants(http_req *r);
int agent_act(http_req *r);
int admin_account_export(http_req *r);
int admin_account_ip_ranges(http_req *r);

/* policy.c — the security policy (GET shows, PUT overrides the configuration) */
int admin_security(http_req *r);
int admin_security_put(http_req *r);

#endif
