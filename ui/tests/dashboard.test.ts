// The 巡察办's report in the UI, against a mocked Tauri IPC: money in 万元 from fen without
// floats, rates from hundredths of a percent, the cards with their numbers and units, the
// filters sent to totals_filtered, the rectification light in the list, and the 问题清单 with
// its sources that open records.
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { mount, flushPromises } from '@vue/test-utils';
import { mockIPC, clearMocks } from '@tauri-apps/api/mocks';
import { freshPinia } from './setup';
import { i18n } from '../src/i18n';
import { wanFromFen, percentFromBp, countText, isDay } from '../src/lib/totals';
import DashboardView from '../src/views/DashboardView.vue';
import ProblemsView from '../src/views/ProblemsView.vue';
import LightBadge from '../src/components/LightBadge.vue';
import type { Totals } from '../src/bindings/Totals';
import type { TotalsFilter } from '../src/bindings/TotalsFilter';
import type { Facets } from '../src/bindings/Facets';
import type { ProblemRow } from '../src/bindings/ProblemRow';
import type { Projection } from '../src/bindings/Projection';

const ROUND = '2024年第一轮';

function totals(change: Partial<Totals['workflow']> = {}): Totals {
  return {
    records: 12, fund_checks: 2, gang_clues: 3, asset_checks: 4, conduct_issues: 1, with_conflicts: 1,
    allocated_fen: 12_345_678_901, disbursed_fen: 100, shortfall_fen: 100_000, households: 30, households_verified: 25,
    party_members: 10, party_members_expelled: 6, public_officials: 2, contracts: 2000, contracts_rectified: 1780,
    land_recovered_centimu: 220_000, income_recovered_fen: 3_600_000_000,
    workflow: {
      problems_found: 5,
      problems_by_kind: [{ code: 'fund_check', label: '扶贫资金检查', count: 3 }, { code: 'asset_check', label: '农村集体"三资"核查', count: 2 }],
      problems_by_source: [{ code: 'patrol', label: '巡察发现', count: 4 }, { code: 'petition', label: '信访举报', count: 1 }],
      handed_over: 2,
      handed_over_by_destination: [{ code: 'commission', label: '纪委监委', count: 2 }],
      rectifying: 2, rectified: 1, overdue: 1, red: 1, yellow: 1, rectification_rate_bp: 3333,
      by_round: [{ label: ROUND, rectified: 1, total: 3, overdue: 1, rate_bp: 3333 }],
      by_township: [{ label: '东岭镇', rectified: 1, total: 2, overdue: 0, rate_bp: 5000 }],
      by_unit: [{ label: '上坪村委会', rectified: 0, total: 1, overdue: 1, rate_bp: 0 }],
      closed: 0, in_review: 3, returned: 1, talks: 2, petitions: 1, today: '2024-06-01',
      ...change,
    },
  };
}

const facets: Facets = {
  townships: [{ value: '330199101000', label: '东岭镇', parent: '', count: 3 }],
  villages: [],
  rounds: [{ value: ROUND, label: ROUND, parent: '', count: 3 }, { value: '2023年第二轮', label: '2023年第二轮', parent: '', count: 1 }],
  kinds: [],
  statuses: [],
};

function projection(id: string, title: string, change: Partial<Projection> = {}): Projection {
  return {
    record_id: id, kind: 'fund_check', title, round: ROUND, township_code: '330199101000', township_name: '东岭镇',
    village_code: '330199101001', village_name: '上坪村', team: '第一巡察组', creator: 'wang', status: 'rectifying',
    created_at_ms: 0, updated_at_ms: 0, allocated_fen: null, disbursed_fen: null, shortfall_fen: 0, item_count: 0,
    households: 0, households_verified: 0, party_members: 0, party_members_expelled: 0, public_officials: 0, contracts: 0,
    contracts_rectified: 0, land_recovered_centimu: 0, income_recovered_fen: 0, attachment_count: 0, has_conflicts: false,
    problem_count: 0, withdrawn: false, search_text: '', sources: [], conclusion: 'confirmed', handover_to: '', rect_unit: '',
    rect_deadline: '', rectified_at_ms: 0, clue_source: '', last_step: '', last_step_by: '', last_step_to: '', submitted_by: '',
    submitted_at_ms: 0, ...change,
  };
}

/** Mocks the commands the report calls; returns the filters totals_filtered and problem_list were called with. */
function mockReport(problems: ProblemRow[] = [], shown: Facets = facets) {
  const calls: Array<{ cmd: string; filter: TotalsFilter }> = [];
  mockIPC((cmd, args) => {
    if (cmd === 'totals_filtered' || cmd === 'problem_list') {
      const filter = (args as { filter: TotalsFilter }).filter;
      calls.push({ cmd, filter });
      if (cmd === 'problem_list') return problems;
      return filter.from === '2020-01-01' ? totals({ problems_found: 0, handed_over: 0, rectifying: 0, rectified: 0, overdue: 0 }) : totals();
    }
    if (cmd === 'facets') return shown;
    if (cmd === 'assignment') return { teams: [{ team_id: 't1', team: '第一巡察组', round_id: 'r', round: ROUND, role: 'lead', places: [] }], rounds: [], has_divisions: false };
    if (cmd === 'list_records') return { rows: [{ row: projection('a', 'x', { team: '第二巡察组' }), pending: false, light: null, days_left: null }], offset: 0, done: true };
    if (cmd === 'schema') return null;
  });
  return calls;
}

const stubs = {};
const last = <T>(xs: T[]): T | undefined => xs[xs.length - 1];

beforeEach(() => {
  freshPinia();
  i18n.global.locale.value = 'zh-CN';
});
afterEach(() => {
  clearMocks();
  document.body.innerHTML = '';
});

describe('the report figures', () => {
  it('gives money in 万元 from fen exactly, rounded half away from zero', () => {
    expect(wanFromFen(3_600_000_000)).toBe('3,600.00');
    expect(wanFromFen(0)).toBe('0.00');
    expect(wanFromFen(12_345_678_901)).toBe('12,345.68');
    expect(wanFromFen(4_999)).toBe('0.00');
    expect(wanFromFen(5_000)).toBe('0.01');
    expect(wanFromFen(-1_500_000)).toBe('-1.50');
    // Beyond what a double holds exactly after division: still exact.
    expect(wanFromFen(9_007_199_254_740_991)).toBe('9,007,199,254.74');
    expect(wanFromFen(null)).toBe('—');
  });
  it('gives rates in percent and counts grouped', () => {
    expect(percentFromBp(10000)).toBe('100');
    expect(percentFromBp(6667)).toBe('66.67');
    expect(percentFromBp(5000)).toBe('50');
    expect(percentFromBp(3330)).toBe('33.3');
    expect(percentFromBp(0)).toBe('0');
    expect(countText(1780)).toBe('1,780');
    expect(isDay('2024-02-29')).toBe(true);
    expect(isDay('2023-02-29')).toBe(false);
    expect(isDay('2024-4-1')).toBe(false);
  });
});

describe('the dashboard', () => {
  it('shows the 巡察 cards with their breakdowns and units, the rate table and the published figures', async () => {
    mockReport();
    const w = mount(DashboardView, { global: { stubs } });
    await flushPromises();
    const value = (card: string) => w.get(`[data-testid="${card}-value"]`).text();
    expect(value('card-problems-found')).toBe('5');
    expect(value('card-handed-over')).toBe('2');
    expect(value('card-rectifying')).toBe('2');
    expect(value('card-rectified')).toBe('1');
    expect(value('card-overdue')).toBe('1');
    expect(value('card-rate')).toBe('33.33');
    const found = w.get('[data-testid="card-problems-found"]').text();
    expect(found).toContain('个');
    expect(found).toContain('扶贫资金检查 3 个');
    expect(found).toContain('信访举报 1 个');
    expect(w.get('[data-testid="card-handed-over"]').text()).toContain('纪委监委 2 件');
    expect(w.get('[data-testid="card-overdue"]').text()).toContain('红灯 1 个 · 黄灯 1 个');
    expect(w.get('[data-testid="card-rate"]').text()).toContain('%');
    expect(w.get('[data-testid="rate-unit"]').text()).toContain('上坪村委会');
    expect(w.get('[data-testid="rate-township"]').text()).toContain('50%');
    expect(w.get('[data-testid="total-income"]').text()).toContain('3,600.00');
    expect(w.get('[data-testid="total-income"]').text()).toContain('万元/年');
    expect(w.get('[data-testid="total-land"]').text()).toContain('2,200');
    expect(w.get('[data-testid="total-land"]').text()).toContain('亩');
    expect(w.get('[data-testid="total-allocated-value"]').text()).toBe('12,345.68');
    expect(w.get('[data-testid="total-allocated"] .unit').text()).toBe('万元');
    expect(w.get('[data-testid="total-records-value"]').text()).toBe('12');
    expect(w.get('[data-testid="total-party_members"]').text()).toContain('10');
  });

  it('draws counts on whole-number axes and keeps the kinds ring clear of its legend', async () => {
    const townships = ['东岭镇', '西坪镇', '南山乡', '北川镇', '城关街道办事处', '清溪镇'].map((label, i) => ({ value: `33019910${i}000`, label, parent: '', count: i + 1 }));
    mockReport([], {
      ...facets,
      townships,
      kinds: [{ value: 'fund_check', label: '', parent: '', count: 7 }, { value: 'gang_clue', label: '', parent: '', count: 3 }, { value: 'talk', label: '', parent: '', count: 0 }],
      statuses: [{ value: 'draft', label: '', parent: '', count: 3 }, { value: 'submitted', label: '', parent: '', count: 2 }],
    });
    const w = mount(DashboardView, { global: { stubs } });
    await flushPromises();
    const ticks = (id: string) => w.findAll(`[data-testid="${id}"] [data-testid="chart-tick"]`).map((t) => Number(t.text()));
    // At most six records a township: 0 to 6 in steps of two; at most three a status: 0 to 3.
    expect(ticks('chart-township')).toEqual([0, 2, 4, 6]);
    expect(ticks('chart-status')).toEqual([0, 1, 2, 3]);
    // Every name is written under its bar at 360 px (the width jsdom gives), the long one shortened.
    const labels = w.findAll('[data-testid="chart-township"] [data-testid="chart-label"]').map((l) => l.element.childNodes[0].textContent);
    expect(labels).toHaveLength(6);
    expect(labels[4]).toMatch(/…$/);
    expect(w.get('[data-testid="chart-township"] svg').attributes('aria-label')).toContain('城关街道办事处 5');
    // The ring: counts inside the slices, names only in the legend (a list below it), none for an empty kind.
    expect(w.findAll('[data-testid="chart-slice-count"]').map((c) => c.text())).toEqual(['7', '3']);
    const legend = w.get('[data-testid="chart-legend"]');
    expect(legend.element.tagName).toBe('UL');
    expect(legend.findAll('li')).toHaveLength(2);
    expect(legend.text()).toContain('7 · 70%');
    // What is written on the ring: the counts and the total (names are only in tooltips there).
    expect(w.findAll('[data-testid="chart-ring"] > g > text, [data-testid="chart-ring"] > text').map((x) => x.text())).toEqual(['7', '3', '10', '合计']);
    expect(legend.text()).toContain('fund_check');
  });

  it('filters by round, township, team and a span of days, picked from what the device holds', async () => {
    const calls = mockReport();
    const w = mount(DashboardView, { global: { stubs } });
    await flushPromises();
    expect(last(calls)).toEqual({ cmd: 'totals_filtered', filter: { township: null, round: null, team: null, from: null, to: null } });
    const options = (id: string) => w.findAll(`[data-testid="${id}"] option`).map((o) => o.text());
    expect(options('filter-round')).toEqual(['全部', ROUND, '2023年第二轮']);
    expect(options('filter-township')).toEqual(['全部', '东岭镇']);
    expect(options('filter-team')).toEqual(['全部', '第一巡察组', '第二巡察组']);

    await w.get('[data-testid="filter-round"]').setValue(ROUND);
    await w.get('[data-testid="filter-township"]').setValue('330199101000');
    await w.get('[data-testid="filter-team"]').setValue('第一巡察组');
    await flushPromises();
    expect(last(calls)?.filter).toEqual({ township: '330199101000', round: ROUND, team: '第一巡察组', from: null, to: null });

    // A half-typed day waits; a whole one applies.
    const before = calls.length;
    await w.get('[data-testid="filter-from"]').setValue('2020-01');
    await flushPromises();
    expect(calls.length).toBe(before);
    await w.get('[data-testid="filter-from"]').setValue('2020-01-01');
    await w.get('[data-testid="filter-to"]').setValue('2020-12-31');
    await flushPromises();
    expect(last(calls)?.filter).toMatchObject({ from: '2020-01-01', to: '2020-12-31' });
    expect(w.get('[data-testid="card-problems-found-value"]').text()).toBe('0');

    await w.get('[data-testid="filter-clear"]').trigger('click');
    await flushPromises();
    expect(last(calls)?.filter).toEqual({ township: null, round: null, team: null, from: null, to: null });
    expect(w.get('[data-testid="card-problems-found-value"]').text()).toBe('5');
  });

  it('opens the 问题清单', async () => {
    mockReport();
    const w = mount(DashboardView, { global: { stubs } });
    await flushPromises();
    await w.get('[data-testid="open-problems"]').trigger('click');
    expect(w.emitted('open-problems')).toHaveLength(1);
  });
});

describe('the rectification light', () => {
  it('says how many days are left or overdue, coloured', () => {
    const red = mount(LightBadge, { props: { light: 'red', daysLeft: -3 } });
    expect(red.get('[data-testid="light-badge"]').attributes('data-light')).toBe('red');
    expect(red.text()).toBe('逾期 3 天');
    expect(mount(LightBadge, { props: { light: 'yellow', daysLeft: 15 } }).text()).toBe('剩 15 天');
    expect(mount(LightBadge, { props: { light: 'red', daysLeft: 0 } }).text()).toBe('今日到期');
    expect(mount(LightBadge, { props: { light: null, daysLeft: null } }).find('[data-testid="light-badge"]').exists()).toBe(false);
    i18n.global.locale.value = 'en';
    expect(mount(LightBadge, { props: { light: 'green', daysLeft: 40 } }).text()).toBe('40 days left');
  });
});

describe('the 问题清单', () => {
  it('lists each problem with its place, state, conclusion, hand-over, unit and light, and opens its sources', async () => {
    const problems: ProblemRow[] = [
      {
        row: projection('p1', '上坪村到户补贴少发', { rect_unit: '上坪村委会', rect_deadline: '2024-06-30' }),
        sources: [{ id: 's1', kind: 'petition', title: '村民来信反映补贴少发', status: 'draft', cited: true }],
        light: 'yellow', days_left: 12,
      },
      { row: projection('p2', '石门村强揽工程', { kind: 'gang_clue', status: 'handed_over', handover_to: 'commission', village_name: '石门村' }), sources: [], light: null, days_left: null },
    ];
    const calls = mockReport(problems);
    const w = mount(ProblemsView);
    await flushPromises();
    expect(calls.some((c) => c.cmd === 'problem_list')).toBe(true);
    const p1 = w.get('[data-testid="problem-p1"]');
    expect(p1.text()).toContain('上坪村到户补贴少发');
    expect(p1.text()).toContain('东岭镇 上坪村');
    expect(p1.text()).toContain('属实');
    expect(p1.text()).toContain('上坪村委会');
    expect(p1.text()).toContain('2024-06-30');
    expect(p1.get('[data-testid="light-badge"]').attributes('data-light')).toBe('yellow');
    expect(p1.get('[data-testid="light-badge"]').text()).toBe('剩 12 天');
    expect(p1.get('[data-testid="problem-source"]').text()).toContain('村民来信反映补贴少发');
    const p2 = w.get('[data-testid="problem-p2"]');
    expect(p2.get('[data-testid="problem-handover"]').text()).toBe('纪委监委');
    expect(p2.text()).toContain('巡察发现');
    expect(w.get('[data-testid="problems-count"]').text()).toBe('共 2 个问题');

    await p1.get('[data-testid="problem-source"]').trigger('click');
    await p2.get('[data-testid="problem-open"]').trigger('click');
    expect(w.emitted('open')).toEqual([['s1'], ['p2']]);

    await w.get('[data-testid="filter-round"]').setValue(ROUND);
    await flushPromises();
    expect(last(calls)).toEqual({ cmd: 'problem_list', filter: { township: null, round: ROUND, team: null, from: null, to: null } });
  });
});
