// The forms' validation display: Rust's problems under the right field, a refused value
// marked "not saved", the quick amount check, and input going out as typed.
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { mount, flushPromises } from '@vue/test-utils';
import { mockIPC, clearMocks } from '@tauri-apps/api/mocks';
import { freshPinia } from './setup';
import FieldEditor from '../src/components/FieldEditor.vue';
import ItemTable from '../src/components/ItemTable.vue';
import { useEditor } from '../src/stores/editor';
import { IpcError } from '../src/ipc';
import { useSchema } from '../src/stores/schema';
import type { RecordView } from '../src/bindings/RecordView';
import type { ListInfo } from '../src/bindings/ListInfo';

const money = { zh: '拨付金额（元）', en: 'Allocated (yuan)', ty: 'money' as const, key: 'allocated' };
const HOUSEHOLD = '0190f5a0-0000-7000-8000-000000000001';

const beneficiaries: ListInfo = {
  list: 'beneficiaries', key: 'beneficiaries', zh: '受益农户', en: 'Beneficiary households', kind: 'fund_check',
  fields: [
    { field: 'head', key: 'head', zh: '户主', en: 'Head of household', ty: 'text' },
    { field: 'entitled', key: 'entitled', zh: '应享金额（元）', en: 'Entitled (yuan)', ty: 'money' },
    { field: 'received', key: 'received', zh: '实领金额（元）', en: 'Received (yuan)', ty: 'money' },
    { field: 'verified', key: 'verified', zh: '已入户核实', en: 'Visited and verified', ty: 'flag' },
  ],
};

function viewWithProblem(): RecordView {
  return {
    record: {
      id: 'r1', kind: 'fund_check', creator: 'wang', created_at_ms: 0, fields: {},
      lists: { beneficiaries: [{ id: HOUSEHOLD, values: { head: { text: '李秀英' }, entitled: { money: '3000.00' }, received: { money: '3500.00' } } }] },
      tags: [], issues: [], attachments: [], narrative: '', review: { status: 'draft', comments: [], decision: null, conclusion: null, steps: [] }, malformed: [], withdrawn: null, rectification: null, sources: [], signatures: [],
    },
    problems: [
      // Paths name items as Rust writes them: the id without hyphens.
      { path: `beneficiaries/${HOUSEHOLD.replace(/-/g, '')}/received`, code: 'received_exceeds', zh: '实领金额超过应享金额', en: 'received exceeds entitled' },
      { path: 'allocated', code: 'required', zh: '请填写拨付金额（元）', en: 'Allocated (yuan) is required' },
    ],
    conflicts: [{ path: { at: 'item', id: HOUSEHOLD, field: 'head' }, label_zh: '受益农户·户主', values: [] }],
    review: { decision: null, comments: [], names: {} },
    pending: false, refusal: null, informant: null, next_steps: [], light: null, days_left: null, links: [], can_review: false, heads: [], shortfall: null, findings: [], unknown_places: [],
  };
}

beforeEach(() => {
  freshPinia();
});
afterEach(() => clearMocks());

describe('a field', () => {
  it("shows Rust's problem under it", () => {
    const w = mount(FieldEditor, { props: { info: money, value: null, problem: '请填写拨付金额（元）', testid: 'allocated' } });
    expect(w.find('[data-testid="problem-allocated"]').text()).toBe('请填写拨付金额（元）');
    expect(w.find('input').classes()).toContain('invalid');
  });

  it('says a refused value was not saved, in place of the problem, in words of its code', () => {
    const unsaved = new IpcError({ code: 'bad_input', cause: 'bad_amount', params: {}, message: '金额格式错误 “12万” / malformed amount' });
    const w = mount(FieldEditor, { props: { info: money, value: null, problem: 'x', unsaved, testid: 'allocated' } });
    expect(w.find('[data-testid="unsaved-allocated"]').text()).toContain('未保存：金额格式错误');
    expect(w.find('[data-testid="unsaved-allocated"]').text()).not.toContain('malformed');
    expect(w.find('[data-testid="problem-allocated"]').exists()).toBe(false);
  });

  it('marks an amount that cannot be one at once, and sends every keystroke', async () => {
    const w = mount(FieldEditor, { props: { info: money, value: { money: '100.00' }, testid: 'allocated' } });
    const input = w.find('input');
    expect((input.element as HTMLInputElement).value).toBe('100.00');
    await input.trigger('focus');
    await input.setValue('12万');
    expect(input.classes()).toContain('invalid');
    await input.setValue('120000.5');
    expect(input.classes()).not.toContain('invalid');
    expect(w.emitted('input')).toEqual([['12万'], ['120000.5']]);
  });

  it('keeps what is being typed while Rust answers with the stored value', async () => {
    const w = mount(FieldEditor, { props: { info: money, value: null, testid: 'allocated' } });
    const input = w.find('input');
    await input.trigger('focus');
    await input.setValue('1200');
    await w.setProps({ value: { money: '120.00' } });
    expect((input.element as HTMLInputElement).value).toBe('1200');
    await input.trigger('blur');
    await w.setProps({ value: { money: '1200.00' } });
    expect((input.element as HTMLInputElement).value).toBe('1200.00');
  });

  it('offers the choices of its vocabulary', async () => {
    mockIPC((cmd) => {
      if (cmd === 'schema') {
        return { kinds: [], fields: [], lists: [], statuses: [], fund_issues: [],
          vocabularies: [{ vocabulary: 'fund_type', choices: [{ code: 'household_subsidy', zh: '到户补贴', en: 'Household subsidy' }] }] };
      }
    });
    await useSchema().load();
    const w = mount(FieldEditor, { props: { info: { zh: '资金类型', en: 'Fund type', ty: { choice: 'fund_type' }, key: 'fund_type' }, value: null, testid: 'fund_type' } });
    const options = w.findAll('option').map((o) => o.text());
    expect(options).toEqual(['请选择', '到户补贴']);
    await w.find('select').setValue('household_subsidy');
    expect(w.emitted('input')).toEqual([['household_subsidy']]);
  });
});

describe('a list of households', () => {
  it("puts each problem under its household's field and flags a conflicting field", async () => {
    const editor = useEditor();
    editor.view = viewWithProblem();
    const w = mount(ItemTable, { props: { list: beneficiaries, items: editor.view.record.lists.beneficiaries! } });
    await flushPromises();
    expect(w.find('[data-testid="problem-beneficiaries-0-received"]').text()).toBe('实领金额超过应享金额');
    expect(w.find('[data-testid="problem-beneficiaries-0-entitled"]').exists()).toBe(false);
    expect(w.find('[data-testid="field-beneficiaries-0-head"]').classes()).toContain('conflict');
  });

  it('sends a typed household field as an item input', async () => {
    const inputs: unknown[] = [];
    mockIPC((cmd, args) => {
      if (cmd === 'input_field') {
        inputs.push((args as { input: unknown }).input);
        return viewWithProblem();
      }
    });
    const editor = useEditor();
    editor.view = viewWithProblem();
    const w = mount(ItemTable, { props: { list: beneficiaries, items: editor.view.record.lists.beneficiaries! } });
    await w.find('[data-testid="input-beneficiaries-0-received"]').setValue('3000');
    await flushPromises();
    expect(inputs).toEqual([{ at: 'item', id: HOUSEHOLD, field: 'received', text: '3000' }]);
  });
});
