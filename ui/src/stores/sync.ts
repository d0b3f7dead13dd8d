// The always-visible sync status, kept current by events from Rust.
import { defineStore } from 'pinia';
import { ipc } from '../ipc';
import type { SyncStatus } from '../bindings/SyncStatus';

export const useSync = defineStore('sync', {
  state: () => ({ status: null as SyncStatus | null, listening: false }),
  getters: {
    state: (s) => s.status?.state ?? 'idle',
    pending: (s) => Number(s.status?.pending ?? 0),
  },
  actions: {
    async start() {
      if (!this.listening) {
        this.listening = true;
        await ipc.onSyncStatus((status) => {
          this.status = status;
        });
      }
      this.status = await ipc.syncStatus();
    },
    async syncNow() {
      this.status = await ipc.syncNow();
    },
    /** Set directly by the events handler (and tests). */
    apply(status: SyncStatus) {
      this.status = status;
    },
  },
});
