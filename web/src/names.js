// Names in the visitor's language: an object's name_en in English when it has one.
import { prefs } from './prefs.js';
export const nameOf = (o) => (prefs.lang === 'en' && o?.name_en ? o.name_en : o?.name ?? '');
