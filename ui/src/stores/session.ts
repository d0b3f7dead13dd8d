// Where the app is (first run, locked, unlocked) and who is signed in.
import { defineStore } from 'pinia';
import { ipc, IpcError } from '../ipc';
import type { AppStatus } from '../bindings/AppStatus';
import type { EnrollInput } from '../bindings/EnrollInput';

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
    enroll(input: EnrollInput) {
      return this.run(() => ipc.enroll(input));
    },
    unlock(pin: string) {
      return this.run(() => ipc.unlock(pin));
    },
    lock() {
      return this.run(() => ipc.lock());
    },
    setAutoLock(minutes: number) {
      this.autoLockMinutes = minutes;
      localStorage.setItem(AUTO_LOCK_KEY, String(minutes));
    },
  },
});
