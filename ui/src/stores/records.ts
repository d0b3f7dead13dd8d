// The record list: filters, pages loaded as the list scrolls, and the facets that the
// filters offer. Stale answers (the filter changed meanwhile) are dropped.
import { defineStore } from 'pinia';
import { ipc, IpcError } from '../ipc';
import type { RecordRow } from '../bindings/RecordRow';
import type { Facets } from '../bindings/Facets';
import type { RecordKind } from '../bindings/RecordKind';
import type { ReviewStatus } from '../bindings/ReviewStatus';
import type { ListSort } from '../bindings/ListSort';
import type { ListQuery } from '../bindings/ListQuery';
import type { DownloadReport } from '../bindings/DownloadReport';

export const PAGE = 200;
/** The most rows Rust returns at once (records::MAX_PAGE). */
const MAX_LIMIT = 500;

export interface Filters {
  kind: RecordKind | null;
  status: ReviewStatus | null;
  /** The township, then one of its villages: the two levels of the place filter. */
  township: string | null;
  village: string | null;
  round: string | null;
  text: string;
  conflictsOnly: boolean;
  reviewQueue: boolean;
  /** Only the records the server refused, with why. */
  refusedOnly: boolean;
  sort: ListSort;
}

export const emptyFilters = (): Filters => ({
  kind: null,
  status: null,
  township: null,
  village: null,
  round: null,
  text: '',
  conflictsOnly: false,
  reviewQueue: false,
  refusedOnly: false,
  sort: 'updated',
});

let generation = 0;

export const useRecords = defineStore('records', {
  state: () => ({
    filters: emptyFilters(),
    rows: [] as RecordRow[],
    done: false,
    loading: false,
    error: null as IpcError | null,
    facets: null as Facets | null,
    /** How many of the user's records have news (the records tab's badge). */
    news: 0,
  }),
  actions: {
    /** The list query of the filters, for the rows from `offset` on. */
    query(offset: number, limit: number): ListQuery {
      const f = this.filters;
      return {
        kind: f.kind,
        status: f.status,
        township: f.township,
        village: f.village,
        round: f.round,
        text: f.text.trim() || null,
        conflicts_only: f.conflictsOnly,
        review_queue: f.reviewQueue,
        refused_only: f.refusedOnly,
        sort: f.sort,
        offset,
        limit,
      };
    },
    /** Fetches the photos and documents of every record the filters pick (a village's, before
     * going there without a signal) that the device does not hold. */
    downloadAttachments(): Promise<DownloadReport> {
      return ipc.downloadAttachments(this.query(0, PAGE));
    },
    async fetch(offset: number, limit = PAGE): Promise<void> {
      const mine = ++generation;
      this.loading = true;
      try {
        const page = await ipc.listRecords(this.query(offset, limit));
        if (mine !== generation) return;
        this.rows = offset === 0 ? page.rows : [...this.rows, ...page.rows];
        this.done = page.done;
        this.news = page.news;
        this.error = null;
      } catch (error) {
        if (mine === generation) this.error = error as IpcError;
      } finally {
        if (mine === generation) this.loading = false;
      }
    },
    /** Reads the list again from the top (after a filter change, an edit, a sync), keeping
     * as many rows as were loaded so the list does not jump back. */
    reload() {
      return this.fetch(0, Math.min(MAX_LIMIT, Math.max(PAGE, this.rows.length)));
    },
    async loadMore() {
      if (this.done || this.loading) return;
      await this.fetch(this.rows.length);
    },
    setFilters(change: Partial<Filters>) {
      this.filters = { ...this.filters, ...change };
      return this.fetch(0);
    },
    /** The record was opened: what was new on it is seen, on its row and the tab. */
    async seen(id: string) {
      const row = this.rows.find((r) => r.row.record_id === id);
      if (row) row.news = false;
      try {
        this.news = await ipc.markSeen(id);
      } catch {
        // Locked meanwhile: the badge stays until the record is opened again.
      }
    },
    async loadFacets() {
      this.facets = await ipc.facets();
    },
  },
});
