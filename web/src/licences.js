// Helpers of the licence pages: the types (GET /api/v1/licence-types, fetched once per
// page load), a field's label in the current language (standard GB/T 36903-style fields
// from the dictionary, the type's own fields from the type), values shown as text, and
// the order a licence's fields are shown in (the type's template first); for sharing, a
// type found by an identifier's prefix and a scenario's name.
import { api } from './api.js';
import { t } from './i18n.js';
import { prefs } from './prefs.js';

export const STANDARD = ['id', 'type_name', 'holder_name', 'holder_number', 'issuer_name', 'issuer', 'issue_date', 'valid_from', 'valid_to', 'source'];

let typesOnce = null;
/** {code: type} of every imported licence type. */
export function licenceTypes() {
  typesOnce ??= api.get('/licence-types').then(
    (r) => Object.fromEntries(r.types.map((x) => [x.code, x])),
    (e) => {
      typesOnce = null;
      throw e;
    },
  );
  return typesOnce;
}

export function typeName(type, code) {
  if (!type) return code;
  return prefs.lang === 'en' && type.name_en ? type.name_en : type.name;
}

export function fieldLabel(type, key) {
  if (STANDARD.includes(key) || key === 'type') return t('lic.f.' + key);
  const f = type?.fields?.find((x) => x.key === key);
  if (!f) return key;
  return prefs.lang === 'en' && f.label_en ? f.label_en : f.label || key;
}

export function valueText(v) {
  if (v === undefined || v === null || v === '') return '—';
  if (v === true) return t('common.yes');
  if (v === false) return t('common.no');
  if (v === 'permanent') return t('lic.permanent');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** The keys of a licence object in display order: the template's, then the standard
 *  ones, then anything else it holds. */
export function fieldOrder(type, licence) {
  const seen = new Set();
  const out = [];
  const add = (k) => {
    if (!seen.has(k) && licence && k in licence) {
      seen.add(k);
      out.push(k);
    }
  };
  for (const k of type?.template?.fields ?? []) add(k);
  for (const k of STANDARD) add(k);
  for (const k of type?.fields?.map((f) => f.key) ?? []) add(k);
  for (const k of Object.keys(licence ?? {})) if (k !== 'type' && k !== 'status' && k !== 'issued_at' && k !== 'revoked_at') add(k);
  return out;
}

export function validityText(v) {
  if (!v || v === 'permanent') return t('le.validity.permanent');
  for (const u of ['years', 'months', 'days']) if (v[u]) return t('le.validity.' + u, { n: v[u] });
  return '—';
}

/** A licence field's value as text; the type's name in the current language. */
export function shownValue(type, licence, key) {
  if (key === 'type_name') return typeName(type, licence?.type_name);
  return valueText(licence?.[key]);
}

/** The type whose id_code starts the identifier id (LSSF-… → temporary_id_certificate). */
export function typeOfId(types, id) {
  const code = String(id ?? '').split('-')[0];
  return Object.values(types ?? {}).find((x) => x.id_code === code) ?? null;
}

/** A sharing scenario's name in the current language; the server's name (or the code)
 *  for a scenario the dictionary does not know. */
export function scenarioName(code, fallback) {
  const key = 'sh.sc.' + code;
  const s = t(key);
  return s === key ? fallback || code : s;
}
