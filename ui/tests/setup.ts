// Shared set-up for unit tests: a fresh Pinia, the i18n instance, and the Vant components
// the app registers (src/vant.ts).
import { createPinia, setActivePinia } from 'pinia';
import { config } from '@vue/test-utils';
import { vant } from '../src/vant';
import { i18n } from '../src/i18n';

export function freshPinia() {
  const pinia = createPinia();
  setActivePinia(pinia);
  return pinia;
}

config.global.plugins = [i18n, vant];
