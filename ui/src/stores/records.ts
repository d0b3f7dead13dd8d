// The record list: filters, pages loaded as the list scrolls, and the facets that the
// filters offer. Stale answers (the filter changed meanwhile) are dropped.
import { defineStore } from 'pinia';
import { ipc, IpcError } from '../ipc';
import type { RecordRow } from '../bindings/RecordRow';
import type { Facets } from '../bindings/Facets';
import type { RecordKind } from '../bindings/RecordKind';
import type { ReviewStatus } from '../bindings/ReviewStatus';

export const PAGE = 200;

export interface Filters {
  kind: RecordKind | null;
  status: ReviewStatus | null;
  village: string | null;
  round: string | null;
  text: string;
  conflictsOnly: boolean;
  reviewQueue: boolean;
}

export const emptyFilters = (): Filters => ({
  kind: null,
  status: null,
  village: null,
  round: null,
  text: '',
  conflictsOnly: false,
  reviewQueue: false,
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
  }),
  actions: {
    async fetch(offset: number): Promise<void> {
      const mine = ++generation;
      this.loading = true;
      try {
        const f = this.filters;
        const page = await ipc.listRecords({
          kind: f.kind,
          status: f.status,
          township: null,
          village: f.village,
          round: f.round,
          text: f.text.trim() || null,
          conflicts_only: f.conflictsOnly,
          review_queue: f.reviewQueue,
          offset,
          limit: PAGE,
        });
        if (mine !== generation) return;
        this.rows = offset === 0 ? page.rows : [...this.rows, ...page.rows];
        this.done = page.done;
        this.error = null;
      } catch (error) {
        if (mine === generation) this.error = error as IpcError;
      } finally {
        if (mine === generation) this.loading = false;
      }
    },
    reload() {
      return this.fetch(0);
    },
    async loadMore() {
      if (this.done || this.loading) return;
      await this.fetch(this.rows.length);
    },
    setFilters(change: Partial<Filters>) {
      this.filters = { ...this.filters, ...change };
      return this.reload();
    },
    async loadFacets() {
      this.facets = await ipc.facets();
    },
    /** Replaces one row after an edit, without reloading the list. */
    patchRow(row: RecordRow) {
      const i = this.rows.findIndex((r) => r.row.record_id === row.row.record_id);
      if (i >= 0) this.rows.splice(i, 1, row);
    },
  },
});
