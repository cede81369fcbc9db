// Helpers of the tax pages (pages/Tax*.vue): money typed in yuan ↔ integer fen (exact,
// by string, never through floating point), the forms a registration allows, periods,
// and the server's field names ("data.sales[0].sales_fen") as the form's keys.
import { t, errorText } from './i18n.js';

/** "1234.5" / "1,234.50" / "-3" → integer fen, or null when not an amount. */
export function yuanToFen(s) {
  const v = String(s ?? '').replace(/[,，\s]/g, '');
  const m = /^(-?)(\d{1,12})(?:\.(\d{1,2}))?$/.exec(v);
  if (!m) return null;
  const fen = Number(m[2]) * 100 + Number((m[3] || '').padEnd(2, '0'));
  return m[1] ? -fen : fen;
}

/** 123456 → "1,234.56" (yuan). */
export function fenText(n) {
  if (n === null || n === undefined || Number.isNaN(Number(n))) return '';
  const neg = n < 0;
  const a = Math.abs(Number(n));
  const y = Math.floor(a / 100).toLocaleString('en-US');
  return `${neg ? '-' : ''}${y}.${String(a % 100).padStart(2, '0')}`;
}

/** 12345 fen → "123.45" for putting back into an input. */
export const fenInput = (n) => (n === null || n === undefined ? '' : (n < 0 ? '-' : '') + `${Math.floor(Math.abs(n) / 100)}.${String(Math.abs(n) % 100).padStart(2, '0')}`);

/** The forms a taxpayer may use for one registered tax (the zero declaration always). */
export function formsFor(taxpayer, tax) {
  if (tax === 'vat') return [taxpayer?.vat_status === 'general' ? 'vat_general' : 'vat_small', 'zero'];
  if (tax === 'cit') return ['cit_prepay', 'zero'];
  if (tax === 'iit') return ['iit_withhold', 'zero'];
  return [];
}

/** The latest ended period before `today` ("YYYY-MM-DD"), quarterly or monthly. */
// (today as the server's calendar counts it: China Standard Time)
const cstToday = () => new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai' }).format(new Date());
export function lastPeriod(quarterly, today = cstToday()) {
  let [y, m] = today.split('-').map(Number);
  if (quarterly) {
    let q = Math.floor((m - 1) / 3); // the quarter before this one (0 = last year's Q4)
    if (q === 0) {
      y--;
      q = 4;
    }
    return `${y}Q${q}`;
  }
  m--;
  if (m === 0) {
    y--;
    m = 12;
  }
  return `${y}-${String(m).padStart(2, '0')}`;
}

/** The server's field errors (ApiError.fields) keyed without the "data." prefix. */
export function formFields(fields) {
  const out = {};
  for (const [k, v] of Object.entries(fields || {})) out[k.startsWith('data.') ? k.slice(5) : k] = v;
  return out;
}

export const taxName = (tax) => t(`tax.tax.${tax}`);
export const formName = (form) => t(`tax.form.${form}`);
export const statusName = (s) => t(`tax.st.${s}`);
export const statusType = (s) => ({ submitted: 'primary', accepted: 'success', refused: 'danger', corrected: 'info' })[s] || 'info';

/** An invoice line as the server computes it: amount = quantity × unit price (exact),
 *  tax = amount × rate rounded once, half away from zero (BigInt: no float rounding). */
export function invoiceLine(quantity, unitFen, ratePct) {
  const amount = BigInt(quantity) * BigInt(unitFen);
  const num = amount * BigInt(ratePct);
  const half = num >= 0n ? 50n : -50n;
  return { amount_fen: Number(amount), tax_fen: Number((num + half) / 100n) };
}

/** The VAT rates (percent) a seller may put on an invoice today, from the parameter
 *  sets in force (GET /tax/params): general → its rates, small-scale → levy and
 *  reduced rate; 0 (exempt) always. */
export async function invoiceRates(api, vatStatus) {
  const kind = vatStatus === 'general' ? 'vat_general' : 'vat_small';
  const p = await api.get('/tax/params', { query: { kind } });
  const bp = kind === 'vat_general' ? p.rates_bp || [] : [p.levy_rate_bp, p.reduced_rate_bp];
  return [...new Set([...bp.filter((b) => Number.isInteger(b)).map((b) => b / 100), 0])].sort((a, b) => b - a);
}

/** A fresh idempotency key for one intent to pay (reused when that request is retried). */
// (getRandomValues: randomUUID needs a secure context, a plain-http intranet is not one)
export const newPayKey = () => 'pay-' + Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');

/** The text of a public look-up's error: a 429 says how many seconds to wait. */
export const publicErrorText = (e) =>
  e?.status === 429 ? t('tp.tooMany', { s: e.retryAfter || 1 }) : e?.code === 'no_match' ? t('tp.v.noMatch') : errorText(e);
