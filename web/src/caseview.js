// Small helpers the case pages share: how a form value reads, and a case state's tag.
import { t } from './i18n.js';

/** A form value as the applicant reads it (enum labels, yes/no, yuan). */
export function displayValue(item, f, v) {
  if (v === undefined || v === null || v === '') return f?.default ? t('form.fromProfile') : '—';
  if (!f) return typeof v === 'object' ? JSON.stringify(v) : String(v);
  if (f.type === 'enum') return (item.dictionaries?.[f.dict] || []).find(([c]) => c === v)?.[1] ?? String(v);
  if (f.type === 'boolean') return v ? t('common.yes') : t('common.no');
  if (f.type === 'fen' && typeof v === 'number') return `¥${(v / 100).toFixed(2)}`;
  return String(v);
}

/** The Element Plus tag type of a case state. */
export function stateType(s) {
  if (['approved', 'result_issued', 'closed'].includes(s)) return 'success';
  if (['refused', 'not_accepted'].includes(s)) return 'danger';
  if (s === 'supplement') return 'warning';
  if (['withdrawn', 'draft'].includes(s)) return 'info';
  return 'primary';
}
export const deadlineType = (d) => (d === 'overdue' ? 'danger' : d === 'near_due' ? 'warning' : 'success');
export const when = (at) => (at ? at.slice(0, 16).replace('T', ' ') : '');
