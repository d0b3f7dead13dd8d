// Documents and exports going upward (问题底稿, 谈话记录, 入户核查表, Excel, 问题清单, 整改台账,
// 附件包): one at a time; while one runs its progress is asked for a few times a second and it
// can be cancelled; then the file written (in the export folder) is shown, or why not.
import { defineStore } from 'pinia';
import { ipc, IpcError } from '../ipc';
import type { DocumentKind } from '../bindings/DocumentKind';
import type { ExportedFile } from '../bindings/ExportedFile';
import type { ExportProgress } from '../bindings/ExportProgress';
import type { TotalsFilter } from '../bindings/TotalsFilter';

/** How often the progress of a running export is asked for, in milliseconds. */
export const POLL_MS = 300;

/** The exports of the records a filter picks, by what they make. */
export const FILTER_EXPORTS = {
  workbook: (filter: TotalsFilter) => ipc.exportWorkbook(filter),
  problems: (filter: TotalsFilter) => ipc.reportProblems(filter),
  rectification: (filter: TotalsFilter) => ipc.reportRectification(filter),
  media: (filter: TotalsFilter) => ipc.exportMedia(filter),
  summary: (filter: TotalsFilter) => ipc.reportSummary(filter),
} satisfies Partial<Record<DocumentKind, (filter: TotalsFilter) => Promise<ExportedFile>>>;
export type FilterExport = keyof typeof FILTER_EXPORTS;

export const useExports = defineStore('exports', {
  state: () => ({
    /** What is being made, while it is. */
    running: null as DocumentKind | null,
    progress: null as ExportProgress | null,
    cancelling: false,
    /** The file last written, until it is dismissed. */
    result: null as ExportedFile | null,
    /** Why the last export failed (not when it was cancelled), until dismissed. */
    error: null as IpcError | null,
    /** Counts cancelled exports (the screen says so once per change). */
    cancelled: 0,
  }),
  getters: {
    busy: (s) => s.running !== null,
  },
  actions: {
    /** Runs one export (none while another runs); returns its file, or null. */
    async run(document: DocumentKind, start: () => Promise<ExportedFile>): Promise<ExportedFile | null> {
      if (this.running) return null;
      this.running = document;
      this.progress = null;
      this.cancelling = false;
      this.result = null;
      this.error = null;
      const timer = setInterval(() => void this.poll(), POLL_MS);
      try {
        const file = await start();
        this.result = file;
        return file;
      } catch (error) {
        const e = IpcError.from(error);
        if (e.code === 'cancelled') this.cancelled += 1;
        else this.error = e;
        return null;
      } finally {
        clearInterval(timer);
        this.running = null;
        this.progress = null;
        this.cancelling = false;
      }
    },
    /** 生成底稿 (谈话记录 for a talk) of record `id`. */
    draft(id: string, talk: boolean) {
      return this.run(talk ? 'talk' : 'draft', () => ipc.reportDraft(id));
    },
    household(id: string) {
      return this.run('household', () => ipc.reportHousehold(id));
    },
    /** One of the exports of the records `filter` picks. */
    filtered(kind: FilterExport, filter: TotalsFilter) {
      return this.run(kind, () => FILTER_EXPORTS[kind]({ ...filter }));
    },
    async poll() {
      try {
        const progress = await ipc.exportProgress();
        if (this.running && progress.running) this.progress = progress;
      } catch {
        // The answer comes with the export's own result.
      }
    },
    async cancel() {
      if (!this.running) return;
      this.cancelling = true;
      try {
        const progress = await ipc.cancelExport();
        if (this.running && progress.running) this.progress = progress;
      } catch {
        // Nothing is running any more.
      }
    },
    /** Opens the file written with the system's viewer (where it can be printed). */
    async open(path: string) {
      try {
        await ipc.openExported(path);
      } catch (error) {
        this.error = IpcError.from(error);
      }
    },
    dismiss() {
      this.result = null;
      this.error = null;
    },
  },
});
