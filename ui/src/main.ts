// Starts the UI: Pinia, vue-i18n (zh-CN first) and the Vant components in use, all bundled
// (no network).
import { createApp } from 'vue';
import { createPinia } from 'pinia';
import { vant } from './vant';
import './style.css';
import App from './App.vue';
import { i18n } from './i18n';
import { applyDisplay, savedDisplay } from './stores/display';

applyDisplay(savedDisplay());
createApp(App).use(createPinia()).use(i18n).use(vant).mount('#app');
