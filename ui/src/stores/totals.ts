// What the dashboard and the 问题清单 show: one filter (round, township, team, dates) shared
// by both, the filtered totals, the problem list, and the teams the pickers offer. Stale
// answers (the filter changed meanwhile) are dropped.
import { defineStore } from 'pinia';
import { ipc, IpcError } from '../ipc';
import type { Totals } from '../bindings/Totals';
import type { TotalsFilter } from '../bindings/TotalsFilter';
import type { ProblemRow } from '../bindings/ProblemRow';

export const emptyTotalsFilter = (): TotalsFilter => ({ township: null, round: null, team: null, from: null, to: null });

let totalsGeneration = 0;
let problemsGeneration = 0;

export const useTotals = defineStore('totals', {
  state: () => ({
    filter: emptyTotalsFilter(),
    totals: null as Totals | null,
    problems: [] as ProblemRow[],
    problemsLoaded: false,
    /** The teams records on this device are counted to, with the user's own. */
    teams: [] as string[],
    loading: false,
    error: null as IpcError | null,
  }),
  getters: {
    filtered: (s) => Object.values(s.filter).some((v) => v !== null && v !== ''),
  },
  actions: {
    async loadTotals() {
      const mine = ++totalsGeneration;
      this.loading = true;
      try {
        const totals = await ipc.totalsFiltered({ ...this.filter });
        if (mine !== totalsGeneration) return;
        this.totals = totals;
        this.error = null;
      } catch (error) {
        if (mine === totalsGeneration) this.error = error as IpcError;
      } finally {
        if (mine === totalsGeneration) this.loading = false;
      }
    },
    async loadProblems() {
      const mine = ++problemsGeneration;
      try {
        const rows = await ipc.problemList({ ...this.filter });
        if (mine !== problemsGeneration) return;
        this.problems = rows;
        this.problemsLoaded = true;
        this.error = null;
      } catch (error) {
        if (mine === problemsGeneration) this.error = error as IpcError;
      }
    },
    /** The team picker's choices: the user's teams and the teams records here carry (the
     * facets have no teams, so they are read off the records). */
    async loadTeams() {
      const names = new Set<string>();
      try {
        const assignment = await ipc.assignment();
        for (const t of assignment.teams) if (t.team) names.add(t.team);
      } catch {
        // No assignment on the device: the records' teams only.
      }
      try {
        const page = await ipc.listRecords({
          kind: null, status: null, township: null, village: null, round: null, text: null,
          conflicts_only: false, review_queue: false, refused_only: false, sort: 'updated', offset: 0, limit: 500,
        });
        for (const r of page.rows) if (r.row.team) names.add(r.row.team);
      } catch {
        // The list could not be read: the user's teams only.
      }
      this.teams = [...names];
    },
    setFilter(change: Partial<TotalsFilter>) {
      const next = { ...this.filter, ...change };
      for (const key of Object.keys(next) as Array<keyof TotalsFilter>) {
        if (next[key] === '') next[key] = null;
      }
      this.filter = next;
    },
    clearFilter() {
      this.filter = emptyTotalsFilter();
    },
  },
});
