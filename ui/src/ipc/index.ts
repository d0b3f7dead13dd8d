// The only module that talks to Rust (and to the system's Save and Open dialogs). Components and
// stores call these functions and never import Tauri themselves. Every type here is
// generated from Rust (../bindings).
import { invoke } from '@tauri-apps/api/core';
import { listen, type UnlistenFn } from '@tauri-apps/api/event';
import { open, save } from '@tauri-apps/plugin-dialog';
import type { AppStatus } from '../bindings/AppStatus';
import type { RelayInfo } from '../bindings/RelayInfo';
import type { RelayJoined } from '../bindings/RelayJoined';
import type { Assignment } from '../bindings/Assignment';
import type { DivisionEntry } from '../bindings/DivisionEntry';
import type { EnrollLink } from '../bindings/EnrollLink';
import type { RosterKey } from '../bindings/RosterKey';
import type { RosterPick } from '../bindings/RosterPick';
import type { AttachmentInput } from '../bindings/AttachmentInput';
import type { BundleImport } from '../bindings/BundleImport';
import type { Edit } from '../bindings/Edit';
import type { EnrollInput } from '../bindings/EnrollInput';
import type { ErrorCode } from '../bindings/ErrorCode';
import type { ErrorDto } from '../bindings/ErrorDto';
import type { ErrorParams } from '../bindings/ErrorParams';
import type { ExportResult } from '../bindings/ExportResult';
import type { ExportedFile } from '../bindings/ExportedFile';
import type { ExportProgress } from '../bindings/ExportProgress';
import type { Facets } from '../bindings/Facets';
import type { FieldInput } from '../bindings/FieldInput';
import type { FieldPath } from '../bindings/FieldPath';
import type { FieldVersionView } from '../bindings/FieldVersionView';
import type { HistoryEntryView } from '../bindings/HistoryEntryView';
import type { InformantField } from '../bindings/InformantField';
import type { LedgerChange } from '../bindings/LedgerChange';
import type { ProgressInput } from '../bindings/ProgressInput';
import type { SignInput } from '../bindings/SignInput';
import type { ListPage } from '../bindings/ListPage';
import type { DownloadReport } from '../bindings/DownloadReport';
import type { ListQuery } from '../bindings/ListQuery';
import type { NewRecordInput } from '../bindings/NewRecordInput';
import type { RecordView } from '../bindings/RecordView';
import type { Schema } from '../bindings/Schema';
import type { SyncStatus } from '../bindings/SyncStatus';
import type { Totals } from '../bindings/Totals';
import type { TotalsFilter } from '../bindings/TotalsFilter';
import type { ProblemRow } from '../bindings/ProblemRow';
import type { TransitionInput } from '../bindings/TransitionInput';

/** An error from Rust: a stable code to branch on, the exact cause the UI words (see
 * lib/errors.ts) and the details it may name. Its message is Rust's, for logs: never shown. */
export class IpcError extends Error {
  readonly code: ErrorCode;
  readonly cause: ErrorCode | null;
  readonly params: ErrorParams;
  constructor(dto: Pick<ErrorDto, 'code' | 'message'> & Partial<ErrorDto>) {
    super(dto.message);
    this.code = dto.code;
    this.cause = dto.cause ?? null;
    this.params = dto.params ?? {};
    this.name = 'IpcError';
  }

  /** Whatever was thrown, as an IpcError (`ipc` when it is not one of Rust's). */
  static from(error: unknown): IpcError {
    if (error instanceof IpcError) return error;
    if (error && typeof error === 'object' && 'code' in error && 'message' in error) {
      return new IpcError(error as ErrorDto);
    }
    return new IpcError({ code: 'ipc', message: String(error) });
  }
}

const toIpcError = IpcError.from;

/** What the Save dialog shows: its title, the path it proposes, the kinds of file it lists. */
export interface SaveOptions {
  title: string;
  defaultPath?: string;
  filters: Array<{ name: string; extensions: string[] }>;
}

async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (error) {
    throw toIpcError(error);
  }
}

/** A command whose payload travels as the raw request body, its description in a header. */
async function raw(command: string, bytes: Uint8Array, header: string, input: unknown): Promise<RecordView> {
  try {
    return await invoke<RecordView>(command, bytes, { headers: { [header]: encodeURIComponent(JSON.stringify(input)) } });
  } catch (error) {
    throw toIpcError(error);
  }
}

export const ipc = {
  appStatus: () => call<AppStatus>('app_status'),
  probeServer: (url: string) => call<null>('probe_server', { url }),
  enrollLink: (text: string) => call<EnrollLink>('enroll_link', { text }),
  enroll: (input: EnrollInput) => call<AppStatus>('enroll', { input }),
  unlock: (pin: string) => call<AppStatus>('unlock', { pin }),
  lock: () => call<AppStatus>('lock'),
  changePin: (oldPin: string, newPin: string) => call<null>('change_pin', { oldPin, newPin }),
  moveServer: (url: string) => call<AppStatus>('move_server', { url }),
  schema: () => call<Schema>('schema'),
  listRecords: (query: ListQuery) => call<ListPage>('list_records', { query }),
  /** Fetches the photos and documents of the records `query` picks that the device lacks. */
  downloadAttachments: (query: ListQuery) => call<DownloadReport>('download_attachments', { query }),
  /** Marks what is new on a record seen; the number of the user's records still with news. */
  markSeen: (id: string) => call<number>('mark_seen', { id }),
  facets: () => call<Facets>('facets'),
  totals: (township: string | null) => call<Totals>('totals', { township }),
  /** The totals over the records of a round, township, team and time span (the dashboard). */
  totalsFiltered: (filter: TotalsFilter) => call<Totals>('totals_filtered', { filter }),
  /** 问题清单: the approved problems under the same filter, with their sources and lights. */
  problemList: (filter: TotalsFilter) => call<ProblemRow[]>('problem_list', { filter }),
  record: (id: string) => call<RecordView>('record', { id }),
  createRecord: (input: NewRecordInput) => call<RecordView>('create_record', { input }),
  editRecord: (id: string, edits: Edit[]) => call<RecordView>('edit_record', { id, edits }),
  inputField: (id: string, input: FieldInput) => call<RecordView>('input_field', { id, input }),
  /** One step of the 巡察 workflow; refused (code `forbidden`) with who may take it. */
  transitionRecord: (id: string, input: TransitionInput) => call<RecordView>('transition_record', { id, input }),
  withdrawRecord: (id: string) => call<RecordView>('withdraw_record', { id }),
  townships: () => call<DivisionEntry[]>('townships'),
  villages: (township: string) => call<DivisionEntry[]>('villages', { township }),
  assignment: () => call<Assignment>('assignment'),
  placeRecord: (id: string, code: string) => call<RecordView>('place_record', { id, code }),
  searchRoster: (id: string, query: string) => call<RosterPick[]>('search_roster', { id, query }),
  addFromRoster: (id: string, keys: RosterKey[]) => call<RecordView>('add_from_roster', { id, keys }),
  newItemId: () => call<string>('new_item_id'),
  settleConflict: (id: string, path: FieldPath, change: string) =>
    call<RecordView>('settle_conflict', { id, path, change }),
  recordHistory: (id: string) => call<HistoryEntryView[]>('record_history', { id }),
  fieldHistory: (id: string, path: FieldPath) => call<FieldVersionView[]>('field_history', { id, path }),
  setInformant: (id: string, values: Array<[InformantField, string]>) =>
    call<RecordView>('set_informant', { id, values }),
  syncStatus: () => call<SyncStatus>('sync_status'),
  syncNow: () => call<SyncStatus>('sync_now'),
  exportCsv: () => call<ExportResult>('export_csv'),
  /** 生成底稿: the 问题底稿 (谈话记录 for a talk) as a PDF in the export folder. */
  reportDraft: (id: string) => call<ExportedFile>('report_draft', { id }),
  /** The 入户核查表 of a fund check as a PDF. */
  reportHousehold: (id: string) => call<ExportedFile>('report_household', { id }),
  /** 导出 Excel: the workbook of the records the filter picks. */
  exportWorkbook: (filter: TotalsFilter) => call<ExportedFile>('export_workbook', { filter }),
  /** 导出问题清单 as a PDF, for the filter. */
  reportProblems: (filter: TotalsFilter) => call<ExportedFile>('report_problems', { filter }),
  /** 导出整改台账 as a PDF, for the filter. */
  reportRectification: (filter: TotalsFilter) => call<ExportedFile>('report_rectification', { filter }),
  /** The 情况统计表 as a PDF, for the filter. */
  reportSummary: (filter: TotalsFilter) => call<ExportedFile>('report_summary', { filter }),
  /** 导出附件包: the attachments of the records the filter picks, as a zip. */
  exportMedia: (filter: TotalsFilter) => call<ExportedFile>('export_media', { filter }),
  /** This device's key (`xuncha1:…`): what another side names to send it a sync bundle. */
  bundleKey: () => call<string>('bundle_key'),
  /** 导出同步包: a bundle to `to` of what it has not acknowledged, in the export folder. */
  exportBundle: (to: string, attachments: boolean) => call<ExportedFile>('export_bundle', { to, attachments }),
  /** 导入同步包: the bundle (or receipt) at `path`, checked whole and merged. */
  importBundle: (path: string) => call<BundleImport>('import_bundle', { path }),
  /** 开启组内同步: this 组长's device serves its team on the local network; its QR code. */
  startRelay: () => call<RelayInfo>('start_relay'),
  /** 关闭组内同步 (members' changes wait in this device's outbox for the server). */
  stopRelay: () => call<null>('stop_relay'),
  /** The relay this device serves, if it does. */
  relayInfo: () => call<RelayInfo | null>('relay_info'),
  /** 加入组内同步: joins the relay a 组长's QR code names (its text). */
  joinRelay: (link: string) => call<RelayJoined>('join_relay', { link }),
  /** How far the running export is (asked while one runs). */
  exportProgress: () => call<ExportProgress>('export_progress'),
  /** Stops the running export: it answers `cancelled` and writes nothing. */
  cancelExport: () => call<ExportProgress>('cancel_export'),
  /** Opens an exported file with the system's viewer (desktop; `cannot_open` elsewhere). */
  openExported: (path: string) => call<null>('open_exported', { path }),
  /** Opens a PDF attachment with the system's viewer. */
  openAttachment: (sha256: string) => call<null>('open_attachment', { sha256 }),
  /** Where the Save dialog proposes to save the exported file `path` (its name in the
   * Downloads folder, or in the folder last chosen); null when the app was started with
   * `--export-dir`: the file stays where it was written, and nothing is asked. */
  exportDestination: (path: string) => call<string | null>('export_destination', { path }),
  /** Moves the exported file `path` where the user chose; answers where it is now. */
  saveExported: (path: string, destination: string) => call<string>('save_exported', { path, destination }),
  /** Removes the exported file `path`, which the user chose not to save. */
  discardExported: (path: string) => call<null>('discard_exported', { path }),
  /** The system's Open dialog for one file: the path chosen, or null when it was cancelled. */
  chooseOpenPath: async (options: SaveOptions): Promise<string | null> => {
    try {
      const chosen = await open({ ...options, multiple: false, directory: false });
      return typeof chosen === 'string' ? chosen : null;
    } catch (error) {
      throw toIpcError(error);
    }
  },
  /** The system's Save dialog: the path chosen, or null when it was cancelled. */
  chooseSavePath: async (options: SaveOptions): Promise<string | null> => {
    try {
      return await save(options);
    } catch (error) {
      throw toIpcError(error);
    }
  },

  /** The file travels as raw bytes; what the record says about it, in a header. */
  addAttachment: async (input: AttachmentInput, bytes: Uint8Array): Promise<RecordView> => {
    try {
      return await invoke<RecordView>('add_attachment', bytes, {
        headers: { 'x-attachment': encodeURIComponent(JSON.stringify(input)) },
      });
    } catch (error) {
      throw toIpcError(error);
    }
  },
  attachment: (sha256: string, mime: string) => call<ArrayBuffer>('attachment', { sha256, mime }),
  /** A photo's thumbnail (a small JPEG); empty when the file is no photo to shrink. */
  attachmentThumbnail: (sha256: string, mime: string) => call<ArrayBuffer>('attachment_thumbnail', { sha256, mime }),
  /** 签字: the pad's PNG as raw bytes; who signs, as what, in a header. */
  signRecord: (input: SignInput, png: Uint8Array) => raw('sign_record', png, 'x-sign', input),
  /** 整改进展: the 佐证材料 files' bytes one after another; the text and each file's size in a header. */
  addProgress: (input: ProgressInput, bytes: Uint8Array) => raw('add_progress', bytes, 'x-progress', input),
  /** Fills in the 整改台账 (on an approved problem, also hands it over for rectification). */
  rectifyRecord: (id: string, change: LedgerChange) => call<RecordView>('rectify_record', { id, change }),
  /** Cites `source` as a source of record `id` (or, with `cite` false, no longer). */
  citeRecord: (id: string, source: string, cite: boolean) => call<RecordView>('cite_record', { id, source, cite }),

  onSyncStatus: (handler: (status: SyncStatus) => void): Promise<UnlistenFn> =>
    listen<SyncStatus>('sync-status', (event) => handler(event.payload)),
  onRecordsChanged: (handler: () => void): Promise<UnlistenFn> => listen('records-changed', () => handler()),
};
