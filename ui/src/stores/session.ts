// Where the app is (first run, locked, unlocked) and who is signed in.
import { defineStore } from 'pinia';
import { ipc, IpcError } from '../ipc';
import { useRecords } from './records';
import { useEditor } from './editor';
import { useReference } from './reference';
import type { AppStatus } from '../bindings/AppStatus';
import type { EnrollInput } from '../bindings/EnrollInput';
import type { EnrollLink } from '../bindings/EnrollLink';

const AUTO_LOCK_KEY = 'xuncha.autoLockMinutes';

export const useSession = defineStore('session', {
  state: () => ({
    status: null as AppStatus | null,
    busy: false,
    error: null as IpcError | null,
    autoLockMinutes: Number(localStorage.getItem(AUTO_LOCK_KEY) ?? 5) || 5,
  }),
  getters: {
    stage: (s) => s.status?.stage ?? null,
    info: (s) => s.status?.session ?? null,
    canReview: (s) => s.status?.session?.can_review ?? false,
  },
  actions: {
    async load() {
      this.status = await ipc.appStatus();
    },
    async run(action: () => Promise<AppStatus>): Promise<boolean> {
      this.busy = true;
      this.error = null;
      try {
        this.status = await action();
        return true;
      } catch (error) {
        this.error = error instanceof IpcError ? error : new IpcError({ code: 'ipc', message: String(error) });
        return false;
      } finally {
        this.busy = false;
      }
    },
    probe(url: string): Promise<boolean> {
      return this.run(async () => {
        await ipc.probeServer(url);
        return this.status ?? ipc.appStatus();
      });
    },
    /** Reads the text of an enrollment QR code: the server and code to fill in, or null
     * (with the reason in `error`). */
    async readEnrollLink(text: string): Promise<EnrollLink | null> {
      this.error = null;
      try {
        return await ipc.enrollLink(text);
      } catch (error) {
        this.error = error as IpcError;
        return null;
      }
    },
    /** Moves the device to a new address of its server (refused for another server). */
    moveServer(url: string) {
      return this.run(() => ipc.moveServer(url));
    },
    enroll(input: EnrollInput) {
      return this.run(() => ipc.enroll(input));
    },
    unlock(pin: string) {
      return this.run(() => ipc.unlock(pin));
    },
    /** Locks: Rust closes the records (sync goes on there, with the key it holds), and the
     * web view forgets every record it holds (the list, its filters, the open record) until
     * the PIN is entered again, and the round's reference data. Only the sync status stays. */
    async lock() {
      const locked = await this.run(() => ipc.lock());
      useRecords().$reset();
      useEditor().close();
      useReference().$reset();
      return locked;
    },
    setAutoLock(minutes: number) {
      this.autoLockMinutes = minutes;
      localStorage.setItem(AUTO_LOCK_KEY, String(minutes));
    },
  },
});
