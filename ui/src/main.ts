// Starts the UI: Pinia, vue-i18n (zh-CN first) and Vant, all bundled (no network).
import { createApp } from 'vue';
import { createPinia } from 'pinia';
import Vant from 'vant';
import 'vant/lib/index.css';
import './style.css';
import App from './App.vue';
import { i18n } from './i18n';

createApp(App).use(createPinia()).use(i18n).use(Vant).mount('#app');
