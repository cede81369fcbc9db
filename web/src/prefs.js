// The visitor's two display choices, kept in localStorage: the language (zh default,
// en) and elder mode (适老化: larger type, higher contrast, simpler layout).  Both are
// reflected on <html> (lang attribute, class "elder") so plain CSS can follow them.
import { reactive, watch } from 'vue';

const KEY = 'ehall.prefs';

function load() {
  try {
    const p = JSON.parse(localStorage.getItem(KEY) || '{}');
    return { lang: p.lang === 'en' ? 'en' : 'zh', elder: p.elder === true };
  } catch {
    return { lang: 'zh', elder: false };
  }
}

export const prefs = reactive(load());

function apply() {
  const html = document.documentElement;
  html.lang = prefs.lang === 'en' ? 'en' : 'zh-CN';
  html.classList.toggle('elder', prefs.elder);
}

apply();
watch(prefs, () => {
  apply();
  try {
    localStorage.setItem(KEY, JSON.stringify({ lang: prefs.lang, elder: prefs.elder }));
  } catch {
    /* private mode: the choice lasts for this page only */
  }
});
