// Who wrote what, by name: history, conflicts and the review show the name the user
// directory gives an author (the id in the tooltip), and the id of anyone it does not list.
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { mount, flushPromises } from '@vue/test-utils';
import { mockIPC, clearMocks } from '@tauri-apps/api/mocks';
import { freshPinia } from './setup';
import HistoryPanel from '../src/components/HistoryPanel.vue';
import ConflictPanel from '../src/components/ConflictPanel.vue';
import ReviewPanel from '../src/components/ReviewPanel.vue';
import type { RecordView } from '../src/bindings/RecordView';
import type { ConflictView } from '../src/bindings/ConflictView';
import type { HistoryEntryView } from '../src/bindings/HistoryEntryView';
import type { FieldVersionView } from '../src/bindings/FieldVersionView';

const C1 = '0190f5a0-0000-7000-8000-0000000000c1';
const C2 = '0190f5a0-0000-7000-8000-0000000000c2';

function view(change: Partial<RecordView> = {}): RecordView {
  return {
    record: {
      id: 'r1', kind: 'fund_check', creator: 'wang', created_at_ms: 0, fields: {}, lists: {}, tags: [], issues: [],
      attachments: [], narrative: '', review: { status: 'office_approved', comments: [], decision: null, conclusion: null, steps: [] }, malformed: [], withdrawn: null, rectification: null, sources: [], signatures: [],
    },
    problems: [], conflicts: [], review: { decision: null, comments: [], names: {} }, pending: false, refusal: null, informant: null, next_steps: [], light: null, days_left: null, links: [],
    can_review: false, heads: [], shortfall: null, findings: [], unknown_places: [],
    ...change,
  };
}

const change = (author: string, author_name: string | null): HistoryEntryView => ({
  change: `${author}0000000000`, author, author_name, device: `${author}-tablet`, device_name: author_name ? `${author_name}的平板` : null, actor: '01', at_ms: 0, paths: ['allocated'], summary: null,
});
const version = (author: string, author_name: string | null, value: string): FieldVersionView => ({
  change: `${author}0000000000`, author, author_name, device: `${author}-tablet`, device_name: author_name ? `${author_name}的平板` : null, at_ms: 0, value,
});

/** The users shown, as text and tooltip. */
function users(w: ReturnType<typeof mount>): [string, string | undefined][] {
  return w.findAll('[data-testid="user"]').map((u) => [u.text(), u.attributes('title')]);
}

beforeEach(() => {
  freshPinia();
  // The editor's decision bar, where the review panel puts the steps the user may take.
  if (!document.getElementById('decision-bar')) document.body.insertAdjacentHTML('beforeend', '<div id="decision-bar"></div>');
});
afterEach(() => clearMocks());

describe('authors by name', () => {
  it('the history names a known author with the id in the tooltip, and shows an unknown one by id', async () => {
    mockIPC((cmd) => {
      if (cmd === 'record_history') return [change('wang', '王巡察'), change('zhao', null)];
      if (cmd === 'field_history') return [version('wang', '王巡察', '100.00'), version('zhao', null, '200.00')];
    });
    const record = mount(HistoryPanel, { props: { recordId: 'r1', path: null, fieldLabel: '', version: 0, show: true }, attachTo: document.body });
    await flushPromises();
    // Newest first.
    expect(users(record)).toEqual([['zhao', undefined], ['王巡察', 'wang']]);
    // A listed device by its name, an unlisted one by its id.
    expect(record.text()).toContain('王巡察 在 王巡察的平板 上修改了');
    expect(record.text()).toContain('zhao-tablet');
    record.unmount();

    const field = mount(HistoryPanel, {
      props: { recordId: 'r1', path: { at: 'field', field: 'allocated' }, fieldLabel: '拨付金额', version: 0, show: true },
      attachTo: document.body,
    });
    await flushPromises();
    expect(users(field)).toEqual([['zhao', undefined], ['王巡察', 'wang']]);
    field.unmount();
  });

  it('a conflict names who wrote each value', () => {
    const conflict: ConflictView = {
      path: { at: 'field', field: 'allocated' },
      label_zh: '拨付金额',
      values: [
        { display: '100.00', author: 'wang', author_name: '王巡察', device: 'wang-tablet', device_name: null, at_ms: 0, change: 'aa', shown: true },
        { display: '200.00', author: 'zhao', author_name: null, device: 'zhao-tablet', device_name: null, at_ms: 0, change: 'bb', shown: false },
      ],
    };
    const w = mount(ConflictPanel, { props: { conflicts: [conflict] } });
    expect(w.find('[data-testid="conflict-0-value-0"]').text()).toContain('王巡察 · wang-tablet');
    expect(users(w)).toEqual([['王巡察', 'wang'], ['zhao', undefined]]);
  });

  it('the review names the reviewer who decided and who commented', () => {
    const w = mount(ReviewPanel, {
      props: {
        view: view({
          review: {
            decision: { status: 'office_approved', note: '属实', by: 'sun', by_name: '孙书记', at_ms: 0, heads: [], void: false },
            comments: [
              { id: C1, author: 'sun', author_name: '孙书记', at_ms: 1, text: '请补充银行流水' },
              { id: C2, author: 'zhao', author_name: null, at_ms: 2, text: '已补充' },
            ],
            names: {},
          },
        }),
      },
    });
    expect(w.find('[data-testid="decision"]').text()).toContain('孙书记');
    expect(w.find('[data-testid="decision"]').text()).not.toContain('sun');
    expect(users(w)).toEqual([['孙书记', 'sun'], ['孙书记', 'sun'], ['zhao', undefined]]);
  });
});
