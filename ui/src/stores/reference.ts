// The round's reference data from Rust: the townships the user works in, each township's
// villages (asked once, then kept), the user's teams and the rounds. Read again when sync
// brings new reference data; forgotten on lock.
import { defineStore } from 'pinia';
import { ipc, IpcError } from '../ipc';
import type { Assignment } from '../bindings/Assignment';
import type { DivisionEntry } from '../bindings/DivisionEntry';
import type { RosterKey } from '../bindings/RosterKey';
import type { RosterPick } from '../bindings/RosterPick';

export const useReference = defineStore('reference', {
  state: () => ({
    townships: [] as DivisionEntry[],
    /** Township code → its villages. */
    villages: {} as Record<string, DivisionEntry[]>,
    assignment: null as Assignment | null,
    error: null as IpcError | null,
  }),
  getters: {
    /** Whether places are picked by name (else typed as CODE:NAME). */
    hasPlaces: (s) => s.townships.length > 0,
    /** The team a new record is counted to when the user is in exactly one. */
    onlyTeam: (s) => (s.assignment?.teams.length === 1 ? s.assignment.teams[0] : null),
  },
  actions: {
    async load() {
      try {
        const [townships, assignment] = await Promise.all([ipc.townships(), ipc.assignment()]);
        this.townships = townships;
        this.assignment = assignment;
        this.villages = {};
        this.error = null;
      } catch (error) {
        this.error = error as IpcError;
      }
    },
    async loadVillages(township: string): Promise<DivisionEntry[]> {
      if (!township) return [];
      if (!this.villages[township]) this.villages[township] = await ipc.villages(township);
      return this.villages[township];
    },
    /** Households of the record's village rosters whose head's name contains a word of `query`. */
    searchRoster(recordId: string, query: string): Promise<RosterPick[]> {
      return ipc.searchRoster(recordId, query);
    },
  },
});

/** A roster household's key as text (for selections). */
export function keyText(key: RosterKey): string {
  return `${key.roster}#${key.index}`;
}
