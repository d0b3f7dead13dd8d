// Documents and exports going upward, against a mocked Tauri IPC: the dashboard's export
// buttons send its filter, a running export's progress is asked for and shown with 取消,
// cancelling is said once and shows no error, the file written is shown with its 编号 (and
// 打开 only where the device opens files), a refusal is worded from its code, and only one
// export runs at a time. On a record: 生成底稿 for a problem, 生成谈话记录 for a talk (and
// 入户核查表 for a fund check), nothing for a petition; made once the edits are stored.
// Where the file goes, with the system's Save dialog mocked: saved where the user chose
// (the dialog titled and filtered by the file's kind) and opened from there; a cancelled
// dialog drops the file and shows nothing; a failure is worded and drops the file; an app
// started with `--export-dir` (export_destination answers null) asks nothing.
import { describe, it, expect, beforeEach, afterEach, vi } from 'vitest';
import { defineComponent, h } from 'vue';
import { mount, flushPromises } from '@vue/test-utils';
import { mockIPC, clearMocks } from '@tauri-apps/api/mocks';
import { save } from '@tauri-apps/plugin-dialog';
import { freshPinia } from './setup';
import { i18n } from '../src/i18n';
import { useExports, POLL_MS, splitPath } from '../src/stores/exports';
import { useTotals } from '../src/stores/totals';
import { useEditor } from '../src/stores/editor';
import ExportButtons from '../src/components/ExportButtons.vue';
import ExportStatus from '../src/components/ExportStatus.vue';
import type { ExportedFile } from '../src/bindings/ExportedFile';
import type { ExportProgress } from '../src/bindings/ExportProgress';
import type { TotalsFilter } from '../src/bindings/TotalsFilter';
import type { RecordKind } from '../src/bindings/RecordKind';
import type { RecordView } from '../src/bindings/RecordView';

vi.mock('@tauri-apps/plugin-dialog', () => ({ save: vi.fn() }));

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

const idle: ExportProgress = { running: false, document: null, importing: false, stage: 'idle', done: 0, total: 0, cancelling: false };

beforeEach(() => {
  freshPinia();
  i18n.global.locale.value = 'zh-CN';
});
afterEach(() => {
  clearMocks();
  vi.useRealTimers();
  vi.mocked(save).mockReset();
});

describe('the export buttons', () => {
  it('export the records the dashboard filter picks', async () => {
    const calls: Array<{ cmd: string; filter: TotalsFilter }> = [];
    mockIPC((cmd, args) => {
      if (cmd === 'export_progress') return idle;
      if (cmd === 'export_destination') return null;
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
      if (cmd === 'export_progress') return { running: true, document: 'draft', importing: false, stage: 'fetching', done: 1, total: 4, cancelling: false };
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
      if (cmd === 'cancel_export') return { running: true, document: 'media', importing: false, stage: 'archiving', done: 3, total: 10, cancelling: true };
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

  it('shows an import of a sync bundle as it is read and merged, and says a cancelled one changed nothing', async () => {
    vi.useFakeTimers();
    let finish: (answer: string) => void = () => {};
    let reject: (e: unknown) => void = () => {};
    let stage = 'verifying';
    mockIPC((cmd) => {
      if (cmd === 'export_progress') return { running: true, document: 'bundle', importing: true, stage, done: 512, total: 2048, cancelling: false };
      if (cmd === 'cancel_export') return { running: true, document: 'bundle', importing: true, stage, done: 512, total: 2048, cancelling: true };
      return null;
    });
    const status = mount(ExportStatus, { attachTo: document.body });
    const exports = useExports();
    const done = exports.track('bundle', () => new Promise<string>((resolve) => (finish = resolve)));
    await vi.advanceTimersByTimeAsync(POLL_MS * 2);
    await flushPromises();
    const progress = () => document.querySelector('[data-testid="export-progress"]')!;
    expect(progress().getAttribute('data-importing')).toBe('true');
    expect(progress().textContent).toContain('正在导入同步包');
    expect(progress().textContent).toContain('正在读取并校验签名');
    expect(progress().textContent).toContain('512 / 2048');
    stage = 'merging';
    await vi.advanceTimersByTimeAsync(POLL_MS);
    await flushPromises();
    expect(progress().textContent).toContain('正在合并记录');
    finish('imported');
    expect(await done).toBe('imported');
    expect(exports.busy).toBe(false);
    // No file was made: nothing to save, no result dialog.
    expect(exports.result).toBeNull();

    // Cancelled while it is read: said once, in the import's words; no error.
    const cancelled = exports.track('bundle', () => new Promise<string>((_, no) => (reject = no)));
    await exports.cancel();
    reject({ code: 'cancelled', cause: null, params: {}, message: '已取消，未做任何更改 / cancelled; nothing was changed' });
    expect(await cancelled).toBeNull();
    expect(exports.cancelled).toBe(1);
    expect(exports.error).toBeNull();
    await flushPromises();
    expect(document.body.textContent).toContain('已取消，未做任何更改');
    // A failure is the caller's to word (it is thrown, and no export error is kept).
    const failed = exports.track('bundle', () => Promise.reject({ code: 'bundle_damaged', cause: null, params: {}, message: 'damaged' }));
    await expect(failed).rejects.toMatchObject({ code: 'bundle_damaged' });
    expect(exports.error).toBeNull();
    expect(exports.busy).toBe(false);
    vi.useRealTimers();
    status.unmount();
  });

  it('words a refusal from its cause, and offers no 打开 where files cannot be opened', async () => {
    mockIPC((cmd) => {
      if (cmd === 'export_workbook') {
        return Promise.reject({ code: 'bad_input', cause: 'nothing_to_export', params: {}, message: 'RUST' });
      }
      if (cmd === 'report_problems') return file({ document: 'problems', openable: false, number: null, records: 7 });
      if (cmd === 'export_destination') return null;
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

const PENDING = '/home/wang/.local/share/cn.gov.jw.xuncha/exports-pending';

/** An export waiting in the app's own folder for the user to choose where it goes. */
function pending(name: string, change: Partial<ExportedFile> = {}): ExportedFile {
  return file({ path: `${PENDING}/${name}`, name, folder: PENDING, ...change });
}

/** The IPC of an app that asks where exports go: what was asked, and what it answers. */
function askingApp(answers: Record<string, (args: Record<string, unknown>) => unknown>) {
  const calls: Array<{ cmd: string; args: Record<string, unknown> }> = [];
  mockIPC((cmd, args) => {
    const a = (args ?? {}) as Record<string, unknown>;
    calls.push({ cmd, args: a });
    if (cmd in answers) return answers[cmd](a);
    if (cmd === 'export_progress') return idle;
    if (cmd === 'export_destination') return `/home/wang/Downloads/${splitPath(a.path as string).name}`;
    if (cmd === 'save_exported') return a.destination;
    return null;
  });
  return calls;
}

describe('the Save dialog', () => {
  it('saves the file where the user chose, and 打开 opens it there', async () => {
    const name = '问题清单-2024年第一轮-20240702-101500.pdf';
    const calls = askingApp({ report_problems: () => pending(name, { document: 'problems', number: null, records: 7 }) });
    let choose: (path: string | null) => void = () => {};
    vi.mocked(save).mockImplementation(() => new Promise((resolve) => (choose = resolve)));
    const status = mount(ExportStatus, { attachTo: document.body });
    const exports = useExports();

    const done = exports.filtered('problems', { township: null, round: ROUND, team: null, from: null, to: null });
    await flushPromises();
    // The file is made; the dialog asks where it goes, titled in Chinese, at the Downloads
    // folder under the name the export gave it, listing PDFs.
    expect(save).toHaveBeenCalledWith({
      title: '保存问题清单',
      defaultPath: `/home/wang/Downloads/${name}`,
      filters: [{ name: 'PDF 文档', extensions: ['pdf'] }],
    });
    expect(exports.saving).toBe(true);
    expect(exports.busy).toBe(true);
    expect(document.querySelector('[data-testid="export-progress"]')).toBeNull();

    choose('/media/usb/报送/东岭镇问题清单.pdf');
    const saved = await done;
    expect(calls.find((c) => c.cmd === 'save_exported')?.args).toEqual({ path: `${PENDING}/${name}`, destination: '/media/usb/报送/东岭镇问题清单.pdf' });
    expect(saved).toEqual({ ...pending(name, { document: 'problems', number: null, records: 7 }), path: '/media/usb/报送/东岭镇问题清单.pdf', name: '东岭镇问题清单.pdf', folder: '/media/usb/报送' });
    expect(exports.saving).toBe(false);
    expect(exports.busy).toBe(false);
    await flushPromises();
    const dialog = document.querySelector('[data-testid="exported-dialog"]')!;
    expect(dialog.getAttribute('data-path')).toBe('/media/usb/报送/东岭镇问题清单.pdf');
    expect(document.querySelector('[data-testid="exported-folder"]')!.textContent).toBe('/media/usb/报送');
    (document.querySelector('[data-testid="exported-open"]') as HTMLElement).click();
    await flushPromises();
    expect(calls.filter((c) => c.cmd === 'open_exported').map((c) => c.args.path)).toEqual(['/media/usb/报送/东岭镇问题清单.pdf']);
    expect(calls.some((c) => c.cmd === 'discard_exported')).toBe(false);
    status.unmount();
  });

  it('is titled and filtered by what the export makes', async () => {
    const cases: Array<[string, () => Promise<unknown>, string, { name: string; extensions: string[] }]> = [
      ['问题底稿-002.pdf', () => useExports().draft('r1', false), '保存问题底稿', { name: 'PDF 文档', extensions: ['pdf'] }],
      ['谈话记录-003.pdf', () => useExports().draft('r1', true), '保存谈话记录', { name: 'PDF 文档', extensions: ['pdf'] }],
      ['巡察记录-全部记录.xlsx', () => useExports().filtered('workbook', useTotals().filter), '保存Excel 工作簿', { name: 'Excel 工作簿', extensions: ['xlsx'] }],
      ['附件包-全部记录.zip', () => useExports().filtered('media', useTotals().filter), '保存附件包', { name: 'ZIP 压缩包', extensions: ['zip'] }],
      ['xuncha-records-20240702.csv', () => useExports().csv(), '保存记录表（CSV）', { name: 'CSV 表格', extensions: ['csv'] }],
    ];
    for (const [name, run, title, filter] of cases) {
      const written = () => pending(name);
      askingApp({
        report_draft: written,
        export_workbook: written,
        export_media: written,
        export_csv: () => ({ path: `${PENDING}/${name}`, records: 12 }),
      });
      vi.mocked(save).mockReset().mockResolvedValue(`/home/wang/文档/${name}`);
      const result = (await run()) as { path: string };
      expect(result.path, name).toBe(`/home/wang/文档/${name}`);
      expect(save).toHaveBeenCalledWith({ title, defaultPath: `/home/wang/Downloads/${name}`, filters: [filter] });
      clearMocks();
    }
  });

  it('cancelled, drops the file and shows nothing: no file, no error, no toast', async () => {
    const name = '巡察记录-2024年第一轮-20240702-101500.xlsx';
    const calls = askingApp({
      export_workbook: () => pending(name, { document: 'workbook', pages: null, number: null }),
      export_csv: () => ({ path: `${PENDING}/xuncha-records.csv`, records: 12 }),
    });
    vi.mocked(save).mockResolvedValue(null);
    const status = mount(ExportStatus, { attachTo: document.body });
    const exports = useExports();
    expect(await exports.filtered('workbook', { township: null, round: ROUND, team: null, from: null, to: null })).toBeNull();
    await flushPromises();
    expect(calls.filter((c) => c.cmd === 'discard_exported').map((c) => c.args.path)).toEqual([`${PENDING}/${name}`]);
    expect(calls.some((c) => c.cmd === 'save_exported')).toBe(false);
    expect(exports.result).toBeNull();
    expect(exports.error).toBeNull();
    expect(exports.cancelled).toBe(0);
    expect(exports.busy).toBe(false);
    expect(document.querySelector('[data-testid="exported-dialog"]')).toBeNull();
    // The dashboard's CSV too.
    expect(await exports.csv()).toBeNull();
    expect(calls.filter((c) => c.cmd === 'discard_exported')).toHaveLength(2);
    status.unmount();
  });

  it('words a failure to save, and drops the file', async () => {
    const name = '附件包-全部记录-20240702-101500.zip';
    const calls = askingApp({
      export_media: () => pending(name, { document: 'media', pages: null, number: null }),
      save_exported: () => Promise.reject({ code: 'io', cause: null, params: {}, message: 'RUST' }),
    });
    vi.mocked(save).mockResolvedValue('/media/usb/附件包.zip');
    const status = mount(ExportStatus, { attachTo: document.body });
    const exports = useExports();
    expect(await exports.filtered('media', { township: null, round: null, team: null, from: null, to: null })).toBeNull();
    await flushPromises();
    const error = document.querySelector('[data-testid="export-error"]')!;
    expect(error.getAttribute('data-code')).toBe('io');
    expect(error.textContent).toBe('无法读写文件，请检查存储空间后重试。');
    expect(calls.filter((c) => c.cmd === 'discard_exported').map((c) => c.args.path)).toEqual([`${PENDING}/${name}`]);
    exports.dismiss();

    // The dialog itself failing: the same, as an error of the app.
    vi.mocked(save).mockRejectedValue('the dialog could not open');
    expect(await exports.filtered('media', { township: null, round: null, team: null, from: null, to: null })).toBeNull();
    expect(exports.error?.code).toBe('ipc');
    expect(calls.filter((c) => c.cmd === 'discard_exported')).toHaveLength(2);
    status.unmount();
  });

  it('is not shown when the app was started with --export-dir: the file stays where it was written', async () => {
    const calls = askingApp({ export_destination: () => null, report_draft: () => file() });
    expect(await useExports().draft('r1', false)).toEqual(file());
    expect(save).not.toHaveBeenCalled();
    expect(calls.map((c) => c.cmd).filter((c) => c !== 'export_progress')).toEqual(['report_draft', 'export_destination']);
  });

  it('names the file and folder of a path with either separator', () => {
    const cases: Array<[string, { name: string; folder: string }]> = [
      ['/media/usb/报送/清单.pdf', { name: '清单.pdf', folder: '/media/usb/报送' }],
      ['C:\\Users\\wang\\Documents\\清单.pdf', { name: '清单.pdf', folder: 'C:\\Users\\wang\\Documents' }],
      ['/清单.pdf', { name: '清单.pdf', folder: '/' }],
      ['清单.pdf', { name: '清单.pdf', folder: '' }],
    ];
    for (const [path, expected] of cases) expect(splitPath(path), path).toEqual(expected);
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
