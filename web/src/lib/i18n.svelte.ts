// A small dictionary-based i18n: English, Russian, Ukrainian. The browser
// language picks the default; the choice is remembered.
import { en } from './i18n/en';
import { ru } from './i18n/ru';
import { uk } from './i18n/uk';

export type Lang = 'en' | 'ru' | 'uk';
export type Key = keyof typeof en;
const dicts: Record<Lang, Partial<Record<Key, string>>> = { en, ru, uk };
export const languages: { code: Lang; label: string }[] = [
  { code: 'en', label: 'English' },
  { code: 'ru', label: 'Русский' },
  { code: 'uk', label: 'Українська' },
];

function initial(): Lang {
  try {
    const saved = localStorage.getItem('sb_lang');
    if (saved && saved in dicts) return saved as Lang;
  } catch { /* ignore */ }
  for (const l of navigator.languages ?? [navigator.language]) {
    const c = l.slice(0, 2).toLowerCase();
    if (c in dicts) return c as Lang;
  }
  return 'en';
}

class I18n {
  lang = $state<Lang>(initial());
  constructor() { document.documentElement.lang = this.lang; }
  set(l: Lang) {
    this.lang = l;
    document.documentElement.lang = l;
    try { localStorage.setItem('sb_lang', l); } catch { /* ignore */ }
  }
  t = (key: Key | (string & {}), vars?: Record<string, string | number>): string => {
    let s = dicts[this.lang][key as Key] ?? en[key as Key] ?? key;
    if (vars) for (const k in vars) s = s.replaceAll(`{${k}}`, String(vars[k]));
    return s;
  };
}
export const i18n = new I18n();
export const t = i18n.t;
