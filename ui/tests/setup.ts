// Shared set-up for unit tests: a fresh Pinia, the i18n instance, and Vant.
import { createPinia, setActivePinia } from 'pinia';
import { config } from '@vue/test-utils';
import Vant from 'vant';
import { i18n } from '../src/i18n';

export function freshPinia() {
  const pinia = createPinia();
  setActivePinia(pinia);
  return pinia;
}

config.global.plugins = [i18n, Vant];
