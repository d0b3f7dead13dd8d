// Documents and exports going upward (问题底稿, 谈话记录, 入户核查表, Excel, 问题清单, 整改台账,
// 附件包): one at a time; while one runs its progress is asked for a few times a second and it
// can be cancelled; then the user chooses where it is saved (the system's Save dialog;
// cancelling it drops the file, and nothing more happens), and the file saved is shown, or
// why not. An app started with `--export-dir` asks nothing: the file stays in that folder.
import { defineStore } from 'pinia';
import { ipc, IpcError, type SaveOptions } from '../ipc';
import { i18n } from '../i18n';
import type { DocumentKind } from '../bindings/DocumentKind';
import type { ExportedFile } from '../bindings/ExportedFile';
import type { ExportResult } from '../bindings/ExportResult';
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

/** The file name and the folder of a path (Windows separates with `\`). */
export function splitPath(path: string): { name: string; folder: string } {
  const at = Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\'));
  return { name: path.slice(at + 1), folder: at === 0 ? path.slice(0, 1) : path.slice(0, Math.max(at, 0)) };
}

/** The Save dialog for the file `path` (a `what`, see exports.documents), opening at `proposed`:
 * titled in the current language, listing files of its kind (PDF, XLSX, ZIP, CSV). */
export function saveOptions(path: string, proposed: string, what: string): SaveOptions {
  const { t } = i18n.global;
  const { name } = splitPath(path);
  const extension = name.includes('.') ? name.slice(name.lastIndexOf('.') + 1).toLowerCase() : '';
  const kind = i18n.global.te(`exports.fileTypes.${extension}`) ? t(`exports.fileTypes.${extension}`) : extension.toUpperCase();
  return {
    title: t('exports.saveTitle', { document: t(`exports.documents.${what}`) }),
    defaultPath: proposed,
    filters: extension ? [{ name: kind, extensions: [extension] }] : [],
  };
}

/** Removes a file that is not to be kept; a failure changes nothing the user sees. */
async function discard(path: string) {
  try {
    await ipc.discardExported(path);
  } catch {
    // It waits in the app's own folder, which is emptied when the app starts.
  }
}

export const useExports = defineStore('exports', {
  state: () => ({
    /** What is being made, while it is. */
    running: null as DocumentKind | null,
    progress: null as ExportProgress | null,
    cancelling: false,
    /** The Save dialog is open (the export is made; where is it saved?). */
    saving: false,
    /** The file last saved, until it is dismissed. */
    result: null as ExportedFile | null,
    /** Why the last export failed (not when it was cancelled), until dismissed. */
    error: null as IpcError | null,
    /** Counts cancelled exports (the screen says so once per change). */
    cancelled: 0,
    /** What runs (or ran last) reads a file in (导入同步包) rather than making one. */
    importing: false,
  }),
  getters: {
    busy: (s) => s.running !== null,
  },
  actions: {
    /** Runs one export (none while another runs); returns its file, or null. */
    async run(document: DocumentKind, start: () => Promise<ExportedFile>): Promise<ExportedFile | null> {
      if (this.running) return null;
      const timer = this.begin(document, false);
      try {
        const written = await start();
        clearInterval(timer);
        this.progress = null;
        const path = await this.saveAs(written.path, document);
        if (path === null) return null;
        const file = path === written.path ? written : { ...written, path, ...splitPath(path) };
        this.result = file;
        return file;
      } catch (error) {
        const e = IpcError.from(error);
        if (e.code === 'cancelled') this.cancelled += 1;
        else this.error = e;
        return null;
      } finally {
        this.end(timer);
      }
    },
    /** Runs an import of a `document` (导入同步包) as a job: its progress shows like an
     * export's and 取消 stops it while the file is read (nothing applied). Answers what
     * `start` answers, or null when cancelled; a failure is thrown to the caller, who says
     * why (no file was made, so there is nothing to save). */
    async track<T>(document: DocumentKind, start: () => Promise<T>): Promise<T | null> {
      if (this.running) return null;
      const timer = this.begin(document, true);
      try {
        return await start();
      } catch (error) {
        const e = IpcError.from(error);
        if (e.code !== 'cancelled') throw e;
        this.cancelled += 1;
        return null;
      } finally {
        this.end(timer);
      }
    },
    /** A job starts: what is shown of the last one goes, and its progress is asked for. */
    begin(document: DocumentKind, importing: boolean): ReturnType<typeof setInterval> {
      this.running = document;
      this.importing = importing;
      this.progress = null;
      this.cancelling = false;
      this.result = null;
      this.error = null;
      return setInterval(() => void this.poll(), POLL_MS);
    },
    end(timer: ReturnType<typeof setInterval>) {
      clearInterval(timer);
      this.running = null;
      this.progress = null;
      this.cancelling = false;
    },
    /** Saves the file an export wrote (a `what`, see exports.documents) where the user
     * chooses in the Save dialog, and answers where it is now; null when the dialog was
     * cancelled (the file is dropped). Started with `--export-dir`, the app asks nothing
     * and the file stays where it was written. A failure drops the file and is thrown. */
    async saveAs(path: string, what: string): Promise<string | null> {
      const proposed = await ipc.exportDestination(path);
      if (proposed === null) return path;
      this.saving = true;
      try {
        const chosen = await ipc.chooseSavePath(saveOptions(path, proposed, what));
        if (chosen === null) {
          await discard(path);
          return null;
        }
        return await ipc.saveExported(path, chosen);
      } catch (error) {
        await discard(path);
        throw error;
      } finally {
        this.saving = false;
      }
    },
    /** 生成底稿 (谈话记录 for a talk) of record `id`. */
    draft(id: string, talk: boolean) {
      return this.run(talk ? 'talk' : 'draft', () => ipc.reportDraft(id));
    },
    household(id: string) {
      return this.run('household', () => ipc.reportHousehold(id));
    },
    /** 导出 CSV: the record list, saved where the user chooses; null when the Save dialog
     * was cancelled. Failures are thrown. */
    async csv(): Promise<ExportResult | null> {
      const written = await ipc.exportCsv();
      const path = await this.saveAs(written.path, 'csv');
      return path === null ? null : { ...written, path };
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
    /** Opens the file saved with the system's viewer (where it can be printed). */
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
