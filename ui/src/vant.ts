// The Vant components the UI uses, registered one by one with their styles, so the bundle
// carries only these (all of Vant cost another 60 KB of gzipped JS and 100 KB of CSS). A
// `<van-…>` tag not registered here is left an unknown element (tests/vant.test.ts checks):
// add its component below, and its styles.
import type { App } from 'vue';
import {
  ActionSheet,
  Button,
  Cell,
  CellGroup,
  Checkbox,
  Dialog,
  DropdownItem,
  DropdownMenu,
  Field,
  Icon,
  Loading,
  Popup,
  Progress,
  Radio,
  RadioGroup,
  Search,
  Switch,
  Tabbar,
  TabbarItem,
  Tag,
} from 'vant';
// Their styles, each component's with those of the components it is built from (its
// `vant/es/<name>/style/index` list), in the order of Vant's whole stylesheet
// `vant/lib/index.css`, so that the cascade is the one the whole stylesheet gave
// (tests/vant.test.ts checks both). showToast, showDialog and showConfirmDialog mount their
// own components: toast and dialog are here for them.
import 'vant/es/style/base.css';
import 'vant/es/action-bar/index.css';
import 'vant/es/badge/index.css';
import 'vant/es/icon/index.css';
import 'vant/es/tag/index.css';
import 'vant/es/cell/index.css';
import 'vant/es/field/index.css';
import 'vant/es/search/index.css';
import 'vant/es/loading/index.css';
import 'vant/es/switch/index.css';
import 'vant/es/button/index.css';
import 'vant/es/action-bar-button/index.css';
import 'vant/es/overlay/index.css';
import 'vant/es/popup/index.css';
import 'vant/es/dialog/index.css';
import 'vant/es/toast/index.css';
import 'vant/es/action-sheet/index.css';
import 'vant/es/radio-group/index.css';
import 'vant/es/checkbox-group/index.css';
import 'vant/es/checkbox/index.css';
import 'vant/es/radio/index.css';
import 'vant/es/cell-group/index.css';
import 'vant/es/dropdown-menu/index.css';
import 'vant/es/dropdown-item/index.css';
import 'vant/es/progress/index.css';
import 'vant/es/tabbar/index.css';
import 'vant/es/tabbar-item/index.css';

const components = [
  ActionSheet,
  Button,
  Cell,
  CellGroup,
  Checkbox,
  Dialog,
  DropdownItem,
  DropdownMenu,
  Field,
  Icon,
  Loading,
  Popup,
  Progress,
  Radio,
  RadioGroup,
  Search,
  Switch,
  Tabbar,
  TabbarItem,
  Tag,
];

/** Registers the Vant components in use, as `app.use(Vant)` would for all of them. */
export const vant = {
  install(app: App): void {
    for (const component of components) app.use(component);
  },
};
