// vue-i18n set up with Chinese first; the choice of language is kept on the device.
import { createI18n } from 'vue-i18n';
import zh from './zh-CN';
import en from './en';

export type Locale = 'zh-CN' | 'en';
const KEY = 'xuncha.locale';

export function savedLocale(): Locale {
  try {
    return localStorage.getItem(KEY) === 'en' ? 'en' : 'zh-CN';
  } catch {
    return 'zh-CN';
  }
}

export const i18n = createI18n({
  legacy: false,
  locale: savedLocale(),
  fallbackLocale: 'zh-CN',
  messages: { 'zh-CN': zh, en },
});

export function setLocale(locale: Locale): void {
  i18n.global.locale.value = locale;
  try {
    localStorage.setItem(KEY, locale);
  } catch {
    // Private mode: the choice lasts until the app closes.
  }
  document.documentElement.lang = locale;
}

/** A label from the schema (which carries both languages) in the current language. */
export function label(item: { zh: string; en: string }): string {
  return i18n.global.locale.value === 'en' ? item.en : item.zh;
}
