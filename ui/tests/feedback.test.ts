// Feedback where it matters: the sync pill says when it last synced (with the day unless
// today) and what waits to go up, and its "N 项被拒绝" leads to the refused records; opening
// a record clears its news on the row and the tab; the display setting (text size, high
// contrast) is kept and applied.
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { mount, flushPromises } from '@vue/test-utils';
import { mockIPC, clearMocks } from '@tauri-apps/api/mocks';
import { freshPinia } from './setup';
import { i18n } from '../src/i18n';
import { formatSince } from '../src/lib/format';
import SyncBadge from '../src/components/SyncBadge.vue';
import { useSync } from '../src/stores/sync';
import { useRecords } from '../src/stores/records';
import { useDisplay, savedDisplay } from '../src/stores/display';
import type { SyncStatus } from '../src/bindings/SyncStatus';
import type { RecordRow } from '../src/bindings/RecordRow';

/** 2026-11-26 14:44 and 2026-12-02 09:05 in UTC+8. */
const NOV_26 = Date.UTC(2026, 10, 26, 6, 44);
const DEC_2 = Date.UTC(2026, 11, 2, 1, 5);

function status(change: Partial<SyncStatus>): SyncStatus {
  return { state: 'synced', pending: 0, refused: 0, last_synced_ms: null, progress: null, error: null, server_url: '', route: 'server', relay_synced_ms: null, ...change };
}

beforeEach(() => {
  freshPinia();
  localStorage.clear();
});
afterEach(() => {
  clearMocks();
  i18n.global.locale.value = 'zh-CN';
});

describe('when it last synced', () => {
  it('is the time alone today, with the day before today, with the year before this year', () => {
    expect(formatSince(DEC_2 - 3_600_000, DEC_2, 'zh-CN')).toBe('08:05');
    expect(formatSince(NOV_26, DEC_2, 'zh-CN')).toBe('11月26日 14:44');
    expect(formatSince(NOV_26, DEC_2, 'en')).toBe('26 Nov 14:44');
    expect(formatSince(Date.UTC(2025, 11, 31, 15, 30), DEC_2, 'zh-CN')).toBe('2025年12月31日 23:30');
    expect(formatSince(Date.UTC(2025, 11, 31, 15, 30), DEC_2, 'en')).toBe('31 Dec 2025 23:30');
  });
});

describe('the sync pill', () => {
  it('says 上次同步 with the day, and what waits to upload, without contradicting itself', async () => {
    const w = mount(SyncBadge);
    useSync().apply(status({ last_synced_ms: NOV_26, pending: 1 }));
    await flushPromises();
    const text = w.text();
    expect(text).toContain('上次同步 11月26日 14:44');
    expect(text).toContain('1 项待上传');
    expect(text).not.toContain('已同步');
    expect(text).not.toContain('待同步');
    w.unmount();
  });

  it('keeps the last sync when offline', async () => {
    const w = mount(SyncBadge);
    useSync().apply(status({ state: 'offline', last_synced_ms: NOV_26 }));
    await flushPromises();
    expect(w.get('[data-testid="sync-text"]').text()).toBe('离线 · 上次同步 11月26日 14:44');
    w.unmount();
  });

  it('names the team relay when a sync went through it, with what still waits for the server', async () => {
    const w = mount(SyncBadge);
    useSync().apply(status({ route: 'relay', relay_synced_ms: NOV_26, last_synced_ms: NOV_26 - 86_400_000, pending: 2 }));
    await flushPromises();
    expect(w.get('[data-testid="sync-text"]').text()).toBe('组内同步 11月26日 14:44');
    expect(w.get('[data-testid="sync-status"]').attributes('data-route')).toBe('relay');
    expect(w.text()).toContain('2 项待上传');
    w.unmount();
  });

  it('leads to the refused records', async () => {
    const w = mount(SyncBadge);
    useSync().apply(status({ refused: 2 }));
    await flushPromises();
    const refused = w.get('[data-testid="sync-refused"]');
    expect(refused.text()).toBe('2 项被拒绝');
    await refused.trigger('click');
    expect(w.emitted('refused')).toHaveLength(1);
    w.unmount();
  });
});

describe('news', () => {
  it('is cleared on the row and counted down on the tab when the record is opened', async () => {
    const seen: string[] = [];
    mockIPC((cmd, args) => {
      if (cmd === 'mark_seen') {
        seen.push((args as { id: string }).id);
        return 1;
      }
    });
    const records = useRecords();
    const row = (id: string, news: boolean) => ({ row: { record_id: id }, pending: false, light: null, days_left: null, news, refusal: null, submitter_name: '' }) as unknown as RecordRow;
    records.rows = [row('a', true), row('b', true)];
    records.news = 2;
    await records.seen('a');
    expect(seen).toEqual(['a']);
    expect(records.rows.map((r) => r.news)).toEqual([false, true]);
    expect(records.news).toBe(1);
  });
});

describe('the display setting', () => {
  it('is applied to the page and kept', () => {
    const display = useDisplay();
    expect([display.textSize, display.theme]).toEqual(['standard', 'default']);
    display.set({ textSize: 'xlarge', theme: 'contrast' });
    expect(document.documentElement.dataset.textSize).toBe('xlarge');
    expect(document.documentElement.dataset.theme).toBe('contrast');
    expect(savedDisplay()).toEqual({ textSize: 'xlarge', theme: 'contrast' });
    localStorage.setItem('xuncha.display', '{"textSize":"huge","theme":"neon"}');
    expect(savedDisplay()).toEqual({ textSize: 'standard', theme: 'default' });
  });
});
