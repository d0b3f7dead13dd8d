// Documents and exports going upward, against a mocked Tauri IPC: the dashboard's export
// buttons send its filter, a running export's progress is asked for and shown with 取消,
// cancelling is said once and shows no error, the file written is shown with its 编号 (and
// 打开 only where the device opens files), a refusal is worded from its code, and only one
// export runs at a time. On a record: 生成底稿 for a problem, 生成谈话记录 for a talk (and
// 入户核查表 for a fund check), nothing for a petition; made once the edits are stored.
import { describe, it, expect, beforeEach, afterEach, vi } from 'vitest';
import { defineComponent, h } from 'vue';
import { mount, flushPromises } from '@vue/test-utils';
import { mockIPC, clearMocks } from '@tauri-apps/api/mocks';
import { freshPinia } from './setup';
import { i18n } from '../src/i18n';
import { useExports, POLL_MS } from '../src/stores/exports';
import { useTotals } from '../src/stores/totals';
import { useEditor } from '../src/stores/editor';
import ExportButtons from '../src/components/ExportButtons.vue';
import ExportStatus from '../src/components/ExportStatus.vue';
import type { ExportedFile } from '../src/bindings/ExportedFile';
import type { ExportProgress } from '../src/bindings/ExportProgress';
import type { TotalsFilter } from '../src/bindings/TotalsFilter';
import type { RecordKind } from '../src/bindings/RecordKind';
import type { RecordView } from '../src/bindings/RecordView';

const ROUND = '2024年第一轮';

function file(change: Partial<ExportedFile> = {}): ExportedFile {
  return {
    path: '/home/wang/Downloads/问题底稿-2024年第一轮-第一巡察组-002-20240702-101500.pdf',
    name: '问题底稿-2024年第一轮-第一巡察组-002-20240702-101500.pdf',
    folder: '/home/wang/Downloads',
    document: 'draft',
    records: 1,
    pages: 3,
    missing: 0,
    number: '2024年第一轮-第一巡察组-002',
    openable: true,
    ...change,
  };
}

const idle: ExportProgress = { running: false, document: null, stage: 'idle', done: 0, total: 0, cancelling: false };

beforeEach(() => {
  freshPinia();
  i18n.global.locale.value = 'zh-CN';
});
afterEach(() => {
  clearMocks();
  vi.useRealTimers();
});

describe('the export buttons', () => {
  it('export the records the dashboard filter picks', async () => {
    const calls: Array<{ cmd: string; filter: TotalsFilter }> = [];
    mockIPC((cmd, args) => {
      if (cmd === 'export_progress') return idle;
      const filter = (args as { filter: TotalsFilter }).filter;
      calls.push({ cmd, filter });
      return file({ document: 'workbook', pages: null, number: null, records: 12 });
    });
    const totals = useTotals();
    totals.setFilter({ round: ROUND, from: '2024-03-01' });
    const buttons = mount(ExportButtons);
    for (const testid of ['export-xlsx', 'export-problems', 'export-rectification', 'export-media', 'export-summary']) {
      await buttons.get(`[data-testid="${testid}"]`).trigger('click');
      await flushPromises();
    }
    expect(calls.map((c) => c.cmd)).toEqual(['export_workbook', 'report_problems', 'report_rectification', 'export_media', 'report_summary']);
    for (const call of calls) expect(call.filter).toEqual({ township: null, round: ROUND, team: null, from: '2024-03-01', to: null });
    expect(buttons.text()).toContain('导出 Excel');
    expect(buttons.text()).toContain('导出附件包');
  });
});

describe('an export', () => {
  it('shows its progress while it runs, then the file with its number and 打开', async () => {
    vi.useFakeTimers();
    let finish: (f: ExportedFile) => void = () => {};
    const opened: string[] = [];
    mockIPC((cmd, args) => {
      if (cmd === 'report_draft') return new Promise<ExportedFile>((resolve) => (finish = resolve));
      if (cmd === 'export_progress') return { running: true, document: 'draft', stage: 'fetching', done: 1, total: 4, cancelling: false };
      if (cmd === 'open_exported') opened.push((args as { path: string }).path);
      return null;
    });
    const status = mount(ExportStatus, { attachTo: document.body });
    const exports = useExports();
    const done = exports.draft('r1', false);
    await vi.advanceTimersByTimeAsync(POLL_MS * 2);
    await flushPromises();
    const progress = document.querySelector('[data-testid="export-progress"]')!;
    expect(progress.getAttribute('data-stage')).toBe('fetching');
    expect(progress.textContent).toContain('正在生成问题底稿');
    expect(progress.textContent).toContain('正在从服务器获取照片');
    expect(progress.textContent).toContain('1 / 4');

    finish(file());
    expect(await done).toEqual(file());
    await flushPromises();
    vi.useRealTimers();
    await flushPromises();
    const dialog = document.querySelector('[data-testid="exported-dialog"]')!;
    expect(dialog.getAttribute('data-number')).toBe('2024年第一轮-第一巡察组-002');
    expect(dialog.textContent).toContain('已生成问题底稿');
    expect(dialog.textContent).toContain('/home/wang/Downloads');
    expect(dialog.textContent).toContain('3 页');
    (document.querySelector('[data-testid="exported-open"]') as HTMLElement).click();
    await flushPromises();
    expect(opened).toEqual([file().path]);
    expect(exports.busy).toBe(false);
    status.unmount();
  });

  it('is cancelled with 取消 and shows no error; one runs at a time', async () => {
    let reject: (e: unknown) => void = () => {};
    const asked: string[] = [];
    mockIPC((cmd) => {
      asked.push(cmd);
      if (cmd === 'export_media') return new Promise((_, no) => (reject = no));
      if (cmd === 'cancel_export') return { running: true, document: 'media', stage: 'archiving', done: 3, total: 10, cancelling: true };
      if (cmd === 'export_progress') return idle;
      return null;
    });
    const exports = useExports();
    const running = exports.filtered('media', { township: null, round: null, team: null, from: null, to: null });
    // A second export while one runs is not started.
    expect(await exports.filtered('workbook', { township: null, round: null, team: null, from: null, to: null })).toBeNull();
    await exports.cancel();
    expect(exports.cancelling).toBe(true);
    expect(exports.progress?.cancelling).toBe(true);
    reject({ code: 'cancelled', cause: null, params: {}, message: '导出已取消 / the export was cancelled' });
    expect(await running).toBeNull();
    expect(exports.error).toBeNull();
    expect(exports.cancelled).toBe(1);
    expect(exports.busy).toBe(false);
    expect(asked.filter((c) => c === 'export_workbook')).toEqual([]);
  });

  it('words a refusal from its cause, and offers no 打开 where files cannot be opened', async () => {
    mockIPC((cmd) => {
      if (cmd === 'export_workbook') {
        return Promise.reject({ code: 'bad_input', cause: 'nothing_to_export', params: {}, message: 'RUST' });
      }
      if (cmd === 'report_problems') return file({ document: 'problems', openable: false, number: null, records: 7 });
      return idle;
    });
    const status = mount(ExportStatus, { attachTo: document.body });
    const exports = useExports();
    await exports.filtered('workbook', { township: null, round: ROUND, team: null, from: null, to: null });
    await flushPromises();
    const error = document.querySelector('[data-testid="export-error"]')!;
    expect(error.getAttribute('data-code')).toBe('nothing_to_export');
    expect(error.textContent).toBe('当前筛选条件下没有记录，无需导出。');
    expect(document.body.textContent).not.toContain('RUST');
    exports.dismiss();
    await flushPromises();

    await exports.filtered('problems', { township: null, round: ROUND, team: null, from: null, to: null });
    await flushPromises();
    expect(document.querySelector('[data-testid="exported-open"]')).toBeNull();
    expect(document.querySelector('[data-testid="exported-dialog"]')!.textContent).toContain('请在文件管理中打开此文件');
    status.unmount();
  });
});

function recordView(kind: RecordKind): RecordView {
  return {
    record: {
      id: 'r1', kind, creator: 'wang', created_at_ms: 0, fields: {}, lists: {}, tags: [], issues: [],
      attachments: [], narrative: '', review: { status: 'submitted', comments: [], decision: null, conclusion: null, steps: [] },
      malformed: [], withdrawn: null, rectification: null, sources: [], signatures: [],
    },
    problems: [], conflicts: [], review: { decision: null, comments: [], names: {} }, pending: false, refusal: null, informant: null,
    next_steps: [], light: null, days_left: null, links: [], can_review: false, heads: [], shortfall: null, findings: [], unknown_places: [],
  };
}

describe('a record', () => {
  it('makes its draft, talk record or household sheet by its kind, after its edits are stored', async () => {
    const calls: string[] = [];
    let saved: () => void = () => {};
    mockIPC((cmd) => {
      calls.push(cmd);
      if (cmd === 'input_field') return new Promise((resolve) => (saved = () => resolve(recordView('fund_check'))));
      if (cmd === 'report_draft' || cmd === 'report_household') return file();
      if (cmd === 'export_progress') return idle;
      if (cmd === 'list_records') return { rows: [], offset: 0, done: true };
      return null;
    });
    const { default: RecordEditor } = await import('../src/views/RecordEditor.vue');
    const editor = useEditor();
    const Shown = defineComponent({ setup: () => () => (editor.view ? h(RecordEditor) : null) });
    const button = (w: ReturnType<typeof mount>, testid: string) => w.find(`[data-testid="${testid}"]`);

    editor.view = recordView('fund_check');
    const w = mount(Shown, { attachTo: document.body });
    expect(button(w, 'report-draft').text()).toBe('生成底稿');
    expect(button(w, 'report-household').exists()).toBe(true);
    // An edit still on its way: the draft waits for it.
    void editor.input({ at: 'field', field: 'title', text: '上坪村' });
    await button(w, 'report-draft').trigger('click');
    await flushPromises();
    expect(calls).not.toContain('report_draft');
    saved();
    await flushPromises();
    expect(calls.filter((c) => c === 'input_field' || c === 'report_draft')).toEqual(['input_field', 'report_draft']);
    w.unmount();

    editor.view = recordView('talk');
    const talk = mount(Shown, { attachTo: document.body });
    expect(button(talk, 'report-draft').text()).toBe('生成谈话记录');
    expect(button(talk, 'report-draft').attributes('data-kind')).toBe('talk');
    expect(button(talk, 'report-household').exists()).toBe(false);
    talk.unmount();

    editor.view = recordView('petition');
    const petition = mount(Shown, { attachTo: document.body });
    expect(button(petition, 'report-draft').exists()).toBe(false);
    petition.unmount();
  });
});
