// The 巡察 workflow in the UI, against a mocked Tauri IPC: one button per step this user
// may take (the others shown with who takes them), the form a step that needs a reason, a
// conclusion or a hand-over opens, refusals that say who may, the trail of steps with the
// void ones marked, a returned record's reason in the editor and its badge in the list, a
// status conflict with nothing to pick, and a talk's questions and answers.
import { describe, it, expect, beforeEach, afterEach, vi } from 'vitest';
import { defineComponent, h } from 'vue';
import { mount, flushPromises } from '@vue/test-utils';
import { mockIPC, clearMocks } from '@tauri-apps/api/mocks';
import { freshPinia } from './setup';
import { useEditor } from '../src/stores/editor';
import { useSchema } from '../src/stores/schema';
import { lastReturn, whoText } from '../src/lib/workflow';
import { i18n } from '../src/i18n';
import ReviewPanel from '../src/components/ReviewPanel.vue';
import ConflictPanel from '../src/components/ConflictPanel.vue';
import ItemTable from '../src/components/ItemTable.vue';
import type { RecordView } from '../src/bindings/RecordView';
import type { ErrorDto } from '../src/bindings/ErrorDto';
import type { NextStep } from '../src/bindings/NextStep';
import type { Step } from '../src/bindings/Step';
import type { ReviewStatus } from '../src/bindings/ReviewStatus';
import type { Capacity } from '../src/bindings/Capacity';
import type { ListInfo } from '../src/bindings/ListInfo';
import type { RecordRow } from '../src/bindings/RecordRow';
import type { Projection } from '../src/bindings/Projection';

const next = (to: ReviewStatus, first: Capacity, allowed: boolean, more: Partial<NextStep> = {}): NextStep => ({
  to, who: { first, or: null }, allowed, needs_note: false, needs_conclusion: false, needs_handover: false, ...more,
});
const step = (i: number, from: ReviewStatus, to: ReviewStatus, by: string, capacity: Capacity, more: Partial<Step> = {}): Step => ({
  id: `${i}@actor`, from, to, by, capacity, at_ms: 1_716_000_000_000 + i * 60_000, note: '', heads: [], conclusion: null, handover: null, prev: i > 0 ? `${i - 1}@actor` : '', void: false, ...more,
});

function view(status: ReviewStatus, next_steps: NextStep[] = [], steps: Step[] = [], change: Partial<RecordView> = {}): RecordView {
  return {
    record: {
      id: 'r1', kind: 'fund_check', creator: 'wang', created_at_ms: 0, fields: {}, lists: {}, tags: [], issues: [],
      attachments: [], narrative: '', review: { status, comments: [], decision: null, conclusion: null, steps },
      malformed: [], withdrawn: null, rectification: null, sources: [], signatures: [],
    },
    problems: [], conflicts: [], review: { decision: null, comments: [], names: {} }, pending: false, refusal: null, informant: null,
    next_steps, light: null, days_left: null, links: [], can_review: false, heads: [], shortfall: null, findings: [], unknown_places: [],
    ...change,
  };
}

/** The transition_record calls made, and a record that moves to where each asks. */
function mockTransitions(refuse?: ErrorDto) {
  const calls: Array<{ id: string; input: { to: ReviewStatus } }> = [];
  mockIPC((cmd, args) => {
    if (cmd === 'transition_record') {
      const call = args as (typeof calls)[number];
      calls.push(call);
      if (refuse) throw refuse;
      return view(call.input.to);
    }
    if (cmd === 'list_records') return { rows: [], offset: 0, done: true };
  });
  return calls;
}

/** The review panel of the open record, as the editor shows it. */
function panel(v: RecordView) {
  const editor = useEditor();
  editor.view = v;
  // With the editor's decision bar, where the panel puts the steps this user may take.
  const Shown = defineComponent({
    setup: () => () => h('div', [editor.view ? h(ReviewPanel, { view: editor.view }) : null, h('div', { id: 'decision-bar' })]),
  });
  return mount(Shown, { attachTo: document.body });
}

const byTestid = (id: string) => document.querySelector<HTMLElement>(`[data-testid="${id}"]`);
async function click(id: string) {
  byTestid(id)!.click();
  await flushPromises();
}
async function type(id: string, text: string) {
  const el = byTestid(id) as HTMLInputElement | HTMLTextAreaElement;
  el.value = text;
  el.dispatchEvent(new Event('input'));
  await flushPromises();
}

/** The statuses as the schema command gives them (labels from the domain). */
const STATUSES: Array<[ReviewStatus, string, string]> = [
  ['draft', '草稿', 'Draft'],
  ['submitted', '待审核', 'Submitted'],
  ['deputy_reviewed', '副组长已审核', 'Reviewed by the deputy lead'],
  ['lead_signed', '组长已审签', 'Signed off by the team lead'],
  ['returned', '退回补充', 'Returned for more'],
  ['office_approved', '巡察办已审核', 'Approved by the office'],
  ['handed_over', '已移交', 'Handed over'],
  ['rectifying', '整改中', 'Being rectified'],
  ['rectified', '已销号', 'Rectified and closed out'],
  ['closed', '予以了结', 'Closed'],
];

beforeEach(() => {
  freshPinia();
  useSchema().schema = {
    kinds: [], fields: [], lists: [], vocabularies: [], fund_issues: [],
    statuses: STATUSES.map(([status, zh, en]) => ({ status, zh, en, next: [], review_decision: false })),
  };
  document.body.innerHTML = '';
});
afterEach(() => {
  clearMocks();
  i18n.global.locale.value = 'zh-CN';
});

describe('the next steps', () => {
  it('are buttons for the steps this user may take, and show who takes the others', () => {
    const w = panel(view('submitted', [
      next('deputy_reviewed', 'deputy', false),
      { ...next('returned', 'deputy', false, { needs_note: true }), who: { first: 'deputy', or: 'lead' } },
    ]));
    expect(w.find('[data-testid="review-status"]').text()).toBe('待审核');
    expect(w.find('[data-testid^="status-"]').exists()).toBe(false);
    const waiting = w.find('[data-testid="waiting-deputy_reviewed"]');
    expect(waiting.text()).toContain('由副组长办理');
    expect(waiting.find('button').attributes('disabled')).toBeDefined();
    expect(w.find('[data-testid="waiting-returned"]').text()).toContain('由副组长或组长办理');
    w.unmount();
  });

  it('names who takes a step in English too', () => {
    i18n.global.locale.value = 'en';
    const t = i18n.global.t as unknown as (key: string, values?: Record<string, unknown>) => string;
    expect(whoText({ first: 'deputy', or: 'lead' }, t)).toBe('Deputy team lead or Team lead');
  });

  it('takes a step that needs nothing more at once', async () => {
    const calls = mockTransitions();
    const w = panel(view('submitted', [next('deputy_reviewed', 'deputy', true), next('returned', 'deputy', true, { needs_note: true })]));
    expect(w.find('[data-testid="status-deputy_reviewed"]').text()).toBe('审核通过');
    await click('status-deputy_reviewed');
    expect(calls).toEqual([{ id: 'r1', input: { to: 'deputy_reviewed', note: '', conclusion: null, handover: null } }]);
    expect(w.find('[data-testid="review-status"]').text()).toBe('副组长已审核');
    w.unmount();
  });

  it('asks for the reason to return a record, and sends it', async () => {
    const calls = mockTransitions();
    const w = panel(view('submitted', [next('deputy_reviewed', 'deputy', true), next('returned', 'deputy', true, { needs_note: true })]));
    await click('status-returned');
    expect(byTestid('transition-form')).not.toBeNull();
    expect(byTestid('transition-conclusion-confirmed')).toBeNull();
    expect(byTestid('handover-no')).toBeNull();
    // No reason: nothing is sent, and the form says what is missing.
    await click('transition-confirm');
    expect(calls).toEqual([]);
    expect(byTestid('transition-form-error')?.textContent).toContain('请写明理由');
    await type('transition-note', '  缺少发放凭证，请补充银行流水  ');
    await click('transition-confirm');
    expect(calls).toEqual([{ id: 'r1', input: { to: 'returned', note: '缺少发放凭证，请补充银行流水', conclusion: null, handover: null } }]);
    expect(w.find('[data-testid="review-status"]').text()).toBe('退回补充');
    w.unmount();
  });

  it("asks the office for the verification conclusion; the note is optional", async () => {
    const calls = mockTransitions();
    const w = panel(view('lead_signed', [
      next('office_approved', 'office', true, { needs_conclusion: true }),
      next('returned', 'office', true, { needs_note: true }),
    ], [], { can_review: true }));
    await click('status-office_approved');
    await click('transition-confirm');
    expect(byTestid('transition-form-error')?.textContent).toContain('请选择核实结论');
    for (const c of ['confirmed', 'partly_confirmed', 'unfounded', 'unverifiable']) expect(byTestid(`transition-conclusion-${c}`)).not.toBeNull();
    expect(byTestid('transition-conclusion-partly_confirmed')?.textContent).toContain('部分属实');
    await click('transition-conclusion-confirmed');
    expect(byTestid('transition-conclusion-confirmed')?.dataset.selected).toBe('true');
    // What was missing is no longer said once it is given.
    expect(byTestid('transition-form-error')).toBeNull();
    await type('transition-note', '以银行流水为准');
    await click('transition-confirm');
    expect(calls).toEqual([{ id: 'r1', input: { to: 'office_approved', note: '以银行流水为准', conclusion: 'confirmed', handover: null } }]);
    w.unmount();
  });

  it('asks whom a clue is handed over to, by which 文号 and when', async () => {
    const calls = mockTransitions();
    const w = panel(view('office_approved', [
      next('handed_over', 'office', true, { needs_handover: true }),
      next('rectifying', 'office', true),
      next('closed', 'office', true, { needs_note: true }),
    ]));
    await click('status-handed_over');
    expect((byTestid('handover-date') as HTMLInputElement).value).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    await click('handover-to-other');
    await type('handover-no', '清巡移〔2024〕3号');
    await type('handover-date', '2024-05-20');
    // 其他 needs the unit's name.
    await click('transition-confirm');
    expect(calls).toEqual([]);
    expect(byTestid('transition-form-error')?.textContent).toContain('移交文号');
    await click('handover-to-commission');
    await click('transition-confirm');
    expect(calls).toEqual([{
      id: 'r1',
      input: { to: 'handed_over', note: '', conclusion: null, handover: { to: 'commission', unit: '', number: '清巡移〔2024〕3号', date: '2024-05-20' } },
    }]);
    w.unmount();
  });

  it("keeps the form open with Rust's refusal, which says who may", async () => {
    const calls = mockTransitions({
      code: 'forbidden',
      cause: 'transition_role',
      params: { who: { first: 'deputy', or: 'lead' } },
      message: '只有副组长或组长可以把记录从“待审核”改为“退回补充” / only the deputy team lead or the team lead can move a record from Submitted to Returned',
    });
    const w = panel(view('submitted', [next('returned', 'deputy', true, { needs_note: true })]));
    await click('status-returned');
    await type('transition-note', '请补充');
    await click('transition-confirm');
    expect(calls).toHaveLength(1);
    expect(byTestid('transition-form-error')?.textContent).toBe('这一步不由您办理，请同步后查看。只有副组长或组长可以办理。');
    expect(w.find('[data-testid="review-status"]').text()).toBe('待审核');
    w.unmount();
  });

  it('shows a refusal of a step taken at once under the buttons', async () => {
    mockTransitions({ code: 'forbidden', cause: 'transition_role', params: { who: { first: 'deputy', or: null } }, message: '只有副组长可以把记录从“待审核”改为“副组长已审核” / only the deputy' });
    const w = panel(view('submitted', [next('deputy_reviewed', 'deputy', true)]));
    await click('status-deputy_reviewed');
    expect(w.find('[data-testid="transition-error"]').text()).toContain('只有副组长可以');
    w.unmount();
  });

  it('offers 补充后重新提交 on a returned record, and nothing on a withdrawn one', () => {
    const returned = panel(view('returned', [next('submitted', 'handler', true)]));
    expect(returned.find('[data-testid="status-submitted"]').text()).toBe('补充后重新提交');
    returned.unmount();
    const v = view('draft', [next('submitted', 'handler', true)]);
    v.record.withdrawn = { by: 'wang', at_ms: 1 };
    const withdrawn = panel(v);
    expect(withdrawn.find('[data-testid="next-steps"]').exists()).toBe(false);
    withdrawn.unmount();
  });

  it('shows the conclusion and the rectification light', () => {
    const v = view('rectifying', [next('rectified', 'lead', false, { needs_note: true })], [], { light: 'red' });
    v.record.review.conclusion = 'partly_confirmed';
    const w = panel(v);
    expect(w.find('[data-testid="review-conclusion"]').text()).toContain('部分属实');
    expect(w.find('[data-testid="light"]').attributes('data-light')).toBe('red');
    expect(w.find('[data-testid="light"]').text()).toContain('红灯');
    w.unmount();
  });
});

describe('the trail of steps', () => {
  const trail = [
    step(0, 'draft', 'submitted', 'wang', 'handler', { void: true }),
    step(1, 'submitted', 'returned', 'qian', 'deputy', { note: '缺少发放凭证', void: true }),
    step(2, 'returned', 'submitted', 'wang', 'handler'),
    step(3, 'submitted', 'deputy_reviewed', 'qian', 'deputy'),
    step(4, 'deputy_reviewed', 'lead_signed', 'zhao', 'lead'),
    step(5, 'lead_signed', 'office_approved', 'liu', 'office', { conclusion: 'confirmed', note: '以银行流水为准' }),
    step(6, 'office_approved', 'handed_over', 'liu', 'office', {
      handover: { to: 'commission', unit: '', number: '清巡移〔2024〕3号', date: '2024-05-20' },
    }),
  ];

  it('lists every step with its capacity, who, the note, and a void mark on those covering an older version', () => {
    const w = panel(view('handed_over', [], trail));
    const items = w.findAll('[data-testid^="step-"][data-void]');
    expect(items).toHaveLength(7);
    expect(items.map((i) => i.attributes('data-void'))).toEqual(['true', 'true', 'false', 'false', 'false', 'false', 'false']);
    const returned = w.find('[data-testid="step-1"]');
    expect(returned.text()).toContain('待审核 → 退回补充');
    expect(returned.text()).toContain('副组长');
    expect(returned.find('[data-testid="user"]').text()).toBe('qian');
    expect(returned.find('[data-testid="step-note"]').text()).toBe('缺少发放凭证');
    expect(returned.find('[data-testid="step-void"]').text()).toContain('已失效');
    expect(w.find('[data-testid="step-2"] [data-testid="step-valid"]').text()).toContain('有效');
    expect(w.find('[data-testid="step-4"]').text()).toContain('组长');
    const approved = w.find('[data-testid="step-5"]');
    expect(approved.text()).toContain('巡察办');
    expect(approved.find('[data-testid="step-conclusion"]').text()).toBe('核实结论：属实');
    expect(w.find('[data-testid="step-6"] [data-testid="step-handover"]').text()).toBe('移交纪委监委 · 清巡移〔2024〕3号 · 2024-05-20');
    w.unmount();
  });

  it("keeps an earlier layout's decision, read-only", () => {
    const w = panel(view('office_approved', [], [], {
      review: { decision: { status: 'office_approved', note: '属实', by: 'sun', by_name: '孙书记', at_ms: 0, heads: [], void: true }, comments: [], names: {} },
    }));
    const decision = w.find('[data-testid="decision"]');
    expect(decision.attributes('data-void')).toBe('true');
    expect(decision.text()).toContain('旧版审核决定：巡察办已审核');
    expect(decision.text()).toContain('孙书记');
    expect(decision.find('button').exists()).toBe(false);
    w.unmount();
  });

  it('finds the step that returned a record while it stands returned', () => {
    const v = view('returned', [], trail.slice(0, 2));
    expect(lastReturn(v.record)?.note).toBe('缺少发放凭证');
    expect(lastReturn(view('submitted', [], trail.slice(0, 3)).record)).toBeNull();
  });
});

describe('a returned record', () => {
  it('shows the reason and who returned it above the record', async () => {
    mockIPC(() => null);
    const { default: RecordEditor } = await import('../src/views/RecordEditor.vue');
    const editor = useEditor();
    const Shown = defineComponent({ setup: () => () => (editor.view ? h(RecordEditor) : null) });
    editor.view = view('returned', [next('submitted', 'handler', true)], [
      step(0, 'draft', 'submitted', 'wang', 'handler', { void: true }),
      step(1, 'submitted', 'returned', 'demo-deputy', 'deputy', { note: '请补充李秀英户的银行流水' }),
    ]);
    const w = mount(Shown, { attachTo: document.body });
    const banner = w.find('[data-testid="returned-reason"]');
    expect(banner.text()).toContain('已退回补充');
    expect(banner.text()).toContain('退回理由：请补充李秀英户的银行流水');
    expect(banner.text()).toContain('副组长 demo-deputy');
    expect(banner.attributes('data-by')).toBe('demo-deputy');
    w.unmount();

    editor.view = view('submitted', [], [step(1, 'submitted', 'returned', 'demo-deputy', 'deputy', { note: 'x' }), step(2, 'returned', 'submitted', 'wang', 'handler')]);
    const again = mount(Shown, { attachTo: document.body });
    expect(again.find('[data-testid="returned-reason"]').exists()).toBe(false);
    again.unmount();
  });

  it('carries a badge in the record list', async () => {
    const row = (id: string, title: string, status: string): RecordRow => ({
      pending: false,
      light: null,
      days_left: null,
      news: false,
      refusal: null,
      submitter_name: '',
      row: {
        record_id: id, kind: 'fund_check', title, round: '', township_code: '', township_name: '', village_code: '', village_name: '东岭村',
        team: '', creator: 'wang', status, created_at_ms: 0, updated_at_ms: 0, allocated_fen: null, disbursed_fen: null, shortfall_fen: 0,
        item_count: 0, households: 0, households_verified: 0, party_members: 0, party_members_expelled: 0, public_officials: 0, contracts: 0,
        contracts_rectified: 0, land_recovered_centimu: 0, income_recovered_fen: 0, attachment_count: 0, has_conflicts: false, problem_count: 0,
        withdrawn: false, search_text: '', sources: [], conclusion: '', handover_to: '', rect_unit: '', rect_deadline: '', rectified_at_ms: 0,
        clue_source: '', last_step: '', last_step_by: '', last_step_to: '', submitted_by: '', submitted_at_ms: 0,
      } satisfies Projection,
    });
    mockIPC((cmd) => {
      if (cmd === 'list_records') return { rows: [row('a', '退回的检查', 'returned'), row('b', '待审核的检查', 'submitted')], offset: 0, done: true };
    });
    vi.stubGlobal('matchMedia', (query: string) => ({ matches: true, media: query, addEventListener: () => {}, removeEventListener: () => {} }));
    try {
      const { default: RecordsScreen } = await import('../src/views/RecordsScreen.vue');
      const w = mount(RecordsScreen, { props: { mode: 'records' }, attachTo: document.body });
      await flushPromises();
      const rows = w.findAll('[data-testid="record-row"]');
      expect(rows).toHaveLength(2);
      expect(rows[0].find('[data-testid="returned-badge"]').text()).toBe('退回补充');
      expect(rows[1].find('[data-testid="returned-badge"]').exists()).toBe(false);
      w.unmount();
    } finally {
      vi.unstubAllGlobals();
    }
  });
});

describe('a conflict of the status', () => {
  it('offers no value to keep (the workflow settles it), and says what to do', () => {
    const w = mount(ConflictPanel, {
      props: {
        conflicts: [
          {
            path: { at: 'review_status' },
            label_zh: '审核状态',
            values: [
              { display: '副组长已审核', author: 'qian', author_name: null, device: 'qian-tablet', device_name: '钱副组长的平板', at_ms: 0, change: 'aa', shown: true },
              { display: '退回补充', author: 'zhao', author_name: null, device: 'zhao-tablet', device_name: null, at_ms: 0, change: 'bb', shown: false },
            ],
          },
          {
            path: { at: 'field', field: 'allocated' },
            label_zh: '拨付金额',
            values: [
              { display: '100.00', author: 'wang', author_name: null, device: null, device_name: null, at_ms: 0, change: 'cc', shown: true },
              { display: '200.00', author: 'zhao', author_name: null, device: null, device_name: null, at_ms: 0, change: 'dd', shown: false },
            ],
          },
        ],
      },
    });
    expect(w.find('[data-testid="keep-0-0"]').exists()).toBe(false);
    expect(w.find('[data-testid="keep-0-1"]').exists()).toBe(false);
    expect(w.find('[data-testid="conflict-0-status-hint"]').text()).toContain('由流程处理');
    // A device by its name where the directory lists it, else by its id.
    expect(w.text()).toContain('钱副组长的平板');
    expect(w.text()).toContain('zhao-tablet');
    expect(w.text()).not.toContain('qian-tablet');
    expect(w.find('[data-testid="keep-1-0"]').exists()).toBe(true);
    expect(w.find('[data-testid="conflict-1-status-hint"]').exists()).toBe(false);
  });
});

describe('a talk (谈话记录)', () => {
  const turns: ListInfo = {
    list: 'turns', key: 'turns', zh: '谈话内容', en: 'Questions and answers', kind: 'talk',
    fields: [
      { field: 'question', key: 'question', zh: '问', en: 'Question', ty: 'text' },
      { field: 'answer', key: 'answer', zh: '答', en: 'Answer', ty: 'text' },
    ],
  };
  const T1 = '0190f5a0-0000-7000-8000-0000000000e1';

  it('adds question and answer turns, each written in a box that takes paragraphs', async () => {
    const edits: unknown[] = [];
    const inputs: unknown[] = [];
    mockIPC((cmd, args) => {
      if (cmd === 'new_item_id') return T1;
      if (cmd === 'edit_record') {
        edits.push((args as { edits: unknown[] }).edits);
        return view('draft');
      }
      if (cmd === 'input_field') {
        inputs.push((args as { input: unknown }).input);
        return view('draft');
      }
    });
    const editor = useEditor();
    editor.view = view('draft');
    const items = [{ id: T1, values: { question: { text: '你是否知道补贴发放情况？' }, answer: { text: '知道。\n村会计说余款暂存村账。' } } }];
    const w = mount(ItemTable, { props: { list: turns, items }, attachTo: document.body });
    const add = w.find('[data-testid="add-turns"]');
    expect(add.text()).toBe('添加问答');
    await add.trigger('click');
    await flushPromises();
    expect(edits).toEqual([[{ op: 'insert_item', list: 'turns', id: T1, values: [] }]]);
    const answer = w.find('[data-testid="input-turns-0-answer"]');
    expect(answer.element.tagName).toBe('TEXTAREA');
    expect((answer.element as HTMLTextAreaElement).value).toBe('知道。\n村会计说余款暂存村账。');
    expect(w.find('[data-testid="input-turns-0-question"]').element.tagName).toBe('TEXTAREA');
    await answer.setValue('不知道。');
    await flushPromises();
    expect(inputs).toEqual([{ at: 'item', id: T1, field: 'answer', text: '不知道。' }]);
    w.unmount();
  });
});
