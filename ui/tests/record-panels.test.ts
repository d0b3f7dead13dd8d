// The record's signatures (签字), its rectification ledger (整改台账) and its links (问题来源 /
// 引出的问题), against a mocked Tauri IPC: the roles offered per kind, the signer's name,
// the pad's picture and strokes sent as a raw body with the x-sign header, a refusal shown
// in the popup, void signatures marked; handing a problem over with the ledger, the deadline
// light, progress with photos sent as one body; links opening their record, citing a source
// found by search and removing it; and step authors by name.
import { describe, it, expect, beforeEach, afterEach, vi } from 'vitest';
import { defineComponent, h, type Component } from 'vue';
import { mount, flushPromises } from '@vue/test-utils';
import { mockIPC, clearMocks } from '@tauri-apps/api/mocks';
import { freshPinia } from './setup';
import { useEditor } from '../src/stores/editor';
import { useSchema } from '../src/stores/schema';
import { useSession } from '../src/stores/session';
import { i18n } from '../src/i18n';
import SignaturesPanel from '../src/components/SignaturesPanel.vue';
import SignaturePad from '../src/components/SignaturePad.vue';
import LedgerPanel from '../src/components/LedgerPanel.vue';
import LinksPanel from '../src/components/LinksPanel.vue';
import ReviewPanel from '../src/components/ReviewPanel.vue';
import type { RecordView } from '../src/bindings/RecordView';
import type { Record as RecordData } from '../src/bindings/Record';
import type { Signature } from '../src/bindings/Signature';
import type { RecordRow } from '../src/bindings/RecordRow';
import type { Rectification } from '../src/bindings/Rectification';

const ID = '0190f5a0-0000-7000-8000-000000000001';
const TALK = '0190f5a0-0000-7000-8000-0000000000a1';
const PETITION = '0190f5a0-0000-7000-8000-0000000000a2';
const PROBLEM = '0190f5a0-0000-7000-8000-0000000000a3';

function view(record: Partial<RecordData> = {}, change: Partial<RecordView> = {}): RecordView {
  return {
    record: {
      id: ID, kind: 'talk', creator: 'wang', created_at_ms: 0, fields: {}, lists: {}, tags: [], issues: [],
      attachments: [], narrative: '', review: { status: 'draft', comments: [], decision: null, conclusion: null, steps: [] },
      malformed: [], withdrawn: null, rectification: null, sources: [], signatures: [],
      ...record,
    },
    problems: [], conflicts: [], review: { decision: null, comments: [], names: {} }, pending: false, refusal: null, informant: null,
    next_steps: [], light: null, days_left: null, links: [], can_review: false, heads: [], shortfall: null, findings: [], unknown_places: [],
    ...change,
  };
}

const sig = (i: number, more: Partial<Signature> = {}): Signature => ({
  id: `s${i}`, role: 'interviewee', signer: '李四', by: 'wang', at_ms: 1_716_000_000_000, heads: [],
  image: { sha256: `${i}`.repeat(64).slice(0, 64), mime: 'image/png', size: 10, caption: '被谈话人签字' },
  strokes: '[]', void: false, ...more,
});

/** A panel of the open record, as the editor shows it (re-rendered as the record changes). */
function shown(panel: Component, v: RecordView) {
  const editor = useEditor();
  editor.view = v;
  const Shown = defineComponent({ setup: () => () => (editor.view ? h(panel, { view: editor.view }) : null) });
  return mount(Shown, { attachTo: document.body });
}

const byTestid = (id: string) => document.querySelector<HTMLElement>(`[data-testid="${id}"]`);
async function click(id: string) {
  const el = byTestid(id);
  if (!el) throw new Error(`no ${id}`);
  el.click();
  await flushPromises();
}
async function type(id: string, text: string) {
  const el = byTestid(id) as HTMLInputElement | HTMLTextAreaElement;
  el.value = text;
  el.dispatchEvent(new Event('input'));
  await flushPromises();
}

interface Call { cmd: string; args: unknown; headers: Record<string, string> }
/** Every IPC call with the headers it carried (the mock itself does not pass them on). */
function mockCalls(answer: (cmd: string, args: unknown) => unknown): Call[] {
  const calls: Call[] = [];
  mockIPC((cmd, args) => answer(cmd, args));
  const internals = (window as unknown as { __TAURI_INTERNALS__: { invoke: (c: string, a: unknown, o?: { headers?: Record<string, string> }) => Promise<unknown> } }).__TAURI_INTERNALS__;
  const inner = internals.invoke;
  internals.invoke = (cmd, args, options) => {
    calls.push({ cmd, args, headers: options?.headers ?? {} });
    return inner(cmd, args, options);
  };
  return calls;
}
const header = (call: Call, name: string) => JSON.parse(decodeURIComponent(call.headers[name]));

beforeEach(() => {
  freshPinia();
  // The editor's decision bar, where the review panel puts the steps the user may take.
  document.body.innerHTML = '<div id="decision-bar"></div>';
  useSchema().schema = {
    kinds: [
      { kind: 'talk', zh: '谈话记录', en: 'Talk' },
      { kind: 'petition', zh: '信访件登记', en: 'Petition' },
      { kind: 'fund_check', zh: '扶贫资金检查', en: 'Fund check' },
    ],
    fields: [], lists: [], vocabularies: [], fund_issues: [],
    statuses: [
      { status: 'draft', zh: '草稿', en: 'Draft', next: [], review_decision: false },
      { status: 'submitted', zh: '待审核', en: 'Submitted', next: [], review_decision: false },
      { status: 'office_approved', zh: '巡察办已审核', en: 'Approved by the office', next: [], review_decision: false },
      { status: 'rectifying', zh: '整改中', en: 'Being rectified', next: [], review_decision: false },
    ],
  };
  useSession().status = {
    stage: 'unlocked', demo_pin: null, version: '0',
    session: { user_id: 'wang', user_name: '王巡察', role: 'inspector', jurisdiction: 'district', device_id: 'd', device_name: '', server_url: 'http://x', can_review: false, records_on_device: 1 },
  } as never;
  window.scrollTo = vi.fn() as never;
  // jsdom draws nothing: the pad's picture comes from the test.
  vi.spyOn(HTMLCanvasElement.prototype, 'getContext').mockReturnValue(null);
  Object.assign(URL, { createObjectURL: vi.fn(() => 'blob:picture'), revokeObjectURL: vi.fn() });
});
afterEach(() => {
  clearMocks();
  vi.restoreAllMocks();
  i18n.global.locale.value = 'zh-CN';
});

describe('signatures', () => {
  it('lists each signature with its signer, role, who took it by name, its picture, and marks a void one', async () => {
    const calls = mockCalls((cmd) => (cmd === 'attachment' ? new Uint8Array([1, 2, 3]).buffer : null));
    const w = shown(SignaturesPanel, view({ signatures: [sig(1), sig(2, { role: 'handler', signer: '王巡察', void: true })] }, { review: { decision: null, comments: [], names: { wang: '王巡察' } } }));
    await flushPromises();
    const first = w.get('[data-testid="signature-0"]');
    expect(first.attributes('data-void')).toBe('false');
    expect(first.text()).toContain('李四');
    expect(first.text()).toContain('被谈话人');
    expect(first.text()).toContain('王巡察 采集');
    expect(first.find('[data-testid="signature-void"]').exists()).toBe(false);
    expect(first.get('[data-testid="signature-image"]').attributes('src')).toBe('blob:picture');
    const second = w.get('[data-testid="signature-1"]');
    expect(second.attributes('data-void')).toBe('true');
    expect(second.get('[data-testid="signature-void"]').text()).toContain('签字后记录已修改');
    expect(calls.filter((c) => c.cmd === 'attachment').map((c) => c.args)).toEqual([
      { sha256: sig(1).image.sha256, mime: 'image/png' },
      { sha256: sig(2).image.sha256, mime: 'image/png' },
    ]);
    w.unmount();
  });

  it('offers 被谈话人 first on a talk, 农户 on a fund check, and 承办人/副组长/组长 on every record', async () => {
    mockCalls(() => null);
    const roles = () => Array.from(document.querySelectorAll('[data-testid^="sign-role-"]')).map((b) => b.getAttribute('data-testid'));
    let w = shown(SignaturesPanel, view({ fields: { interviewee: { text: '李四' } } }));
    await click('sign-button');
    expect(roles()).toEqual(['sign-role-interviewee', 'sign-role-handler', 'sign-role-deputy', 'sign-role-lead']);
    // The person talked with, as the record names them; the user's own name for 承办人.
    expect((byTestid('sign-signer') as HTMLInputElement).value).toBe('李四');
    await click('sign-role-handler');
    expect((byTestid('sign-signer') as HTMLInputElement).value).toBe('王巡察');
    w.unmount();
    document.body.innerHTML = '';

    w = shown(SignaturesPanel, view({ kind: 'fund_check' }));
    await click('sign-button');
    expect(roles()).toEqual(['sign-role-household', 'sign-role-handler', 'sign-role-deputy', 'sign-role-lead']);
    expect((byTestid('sign-signer') as HTMLInputElement).value).toBe('');
    w.unmount();
    document.body.innerHTML = '';

    w = shown(SignaturesPanel, view({ kind: 'petition' }));
    await click('sign-button');
    expect(roles()).toEqual(['sign-role-handler', 'sign-role-deputy', 'sign-role-lead']);
    w.unmount();
  });

  it('sends the picture as the body and who signs in the x-sign header, and shows the new signature', async () => {
    const png = new Uint8Array([137, 80, 78, 71, 1, 2, 3]);
    const calls = mockCalls((cmd) => {
      if (cmd === 'sign_record') return view({ signatures: [sig(1, { signer: '李四' })] });
      if (cmd === 'attachment') return new Uint8Array([1]).buffer;
      return null;
    });
    const w = shown(SignaturesPanel, view());
    await click('sign-button');
    expect(byTestid('sign-role-interviewee')?.getAttribute('data-selected')).toBe('true');
    // Nobody named: nothing is sent.
    w.findComponent(SignaturePad).vm.$emit('signed', { png, strokes: '[[1]]', width: 10, height: 5 });
    await flushPromises();
    expect(byTestid('sign-error')?.textContent).toContain('请填写签字人姓名');
    expect(calls.filter((c) => c.cmd === 'sign_record')).toEqual([]);

    await type('sign-signer', ' 李四 ');
    w.findComponent(SignaturePad).vm.$emit('signed', { png, strokes: '[[1]]', width: 10, height: 5 });
    await flushPromises();
    const [call] = calls.filter((c) => c.cmd === 'sign_record');
    expect(call.args).toEqual(png);
    expect(header(call, 'x-sign')).toEqual({ record: ID, role: 'interviewee', signer: '李四', strokes: '[[1]]', mime: 'image/png' });
    expect(w.get('[data-testid="signature-0"]').attributes('data-signer')).toBe('李四');
    expect(useEditor().view?.record.signatures).toHaveLength(1);
    w.unmount();
  });

  it('shows a refusal in the popup', async () => {
    mockCalls((cmd) => {
      if (cmd === 'sign_record') throw { code: 'forbidden', cause: 'signature_role', params: {}, message: '您不能以“组长”身份签字 / you cannot sign as the team lead' };
      return null;
    });
    const w = shown(SignaturesPanel, view());
    await click('sign-button');
    await click('sign-role-lead');
    w.findComponent(SignaturePad).vm.$emit('signed', { png: new Uint8Array([1]), strokes: '[]', width: 1, height: 1 });
    await flushPromises();
    expect(byTestid('sign-error')?.textContent).toBe('您不能以这一身份签字。');
    expect(byTestid('sign-popup')).not.toBeNull();
    expect(w.find('[data-testid="signature-0"]').exists()).toBe(false);
    w.unmount();
  });
});

const ledger = (more: Partial<Rectification> = {}): Rectification => ({
  unit: '上坪村村委会', owner: '村支书张某', measures: '追回资金并公示', deadline: '2024-07-01', kind: 'deadline', progress: [], ...more,
});

describe('the rectification ledger', () => {
  it('is handed over by the office on an approved problem, with every term required', async () => {
    const calls = mockCalls((cmd) => (cmd === 'rectify_record' ? view({ kind: 'fund_check', review: { status: 'rectifying', comments: [], decision: null, conclusion: null, steps: [] }, rectification: ledger() }, { light: 'green', days_left: 12 }) : null));
    const approved = { status: 'office_approved' as const, comments: [], decision: null, conclusion: null, steps: [] };
    // Not for a talk, nor for someone who is not the office.
    let w = shown(LedgerPanel, view({ kind: 'talk', review: approved }, { can_review: true }));
    expect(w.find('[data-testid="ledger"]').exists()).toBe(false);
    w.unmount();
    w = shown(LedgerPanel, view({ kind: 'fund_check', review: approved }));
    expect(w.find('[data-testid="ledger"]').exists()).toBe(false);
    w.unmount();

    w = shown(LedgerPanel, view({ kind: 'fund_check', review: approved }, { can_review: true }));
    expect(w.get('[data-testid="ledger-save"]').text()).toBe('交付整改');
    await type('ledger-unit', '上坪村村委会');
    await click('ledger-save');
    expect(byTestid('ledger-error')?.textContent).toContain('请填写');
    await type('ledger-owner', '村支书张某');
    await type('ledger-measures', '追回资金并公示');
    await type('ledger-deadline', '2024-07-01');
    await click('ledger-kind-deadline');
    await click('ledger-save');
    const [call] = calls.filter((c) => c.cmd === 'rectify_record');
    expect(call.args).toEqual({ id: ID, change: { unit: '上坪村村委会', owner: '村支书张某', measures: '追回资金并公示', deadline: '2024-07-01', kind: 'deadline' } });
    // Now rectifying: the ledger and its light.
    expect(w.find('[data-testid="ledger-form"]').exists()).toBe(false);
    expect(w.get('[data-testid="ledger-light"]').attributes('data-light')).toBe('green');
    expect(w.get('[data-testid="ledger-light"]').text()).toBe('剩 12 天');
    expect(w.get('[data-testid="ledger-show-measures"]').text()).toBe('追回资金并公示');
    w.unmount();
  });

  it('shows the light as days overdue, and each progress entry with who added it by name and its photos', async () => {
    mockCalls((cmd) => (cmd === 'attachment' ? new Uint8Array([1]).buffer : null));
    const photo = { sha256: 'f'.repeat(64), mime: 'image/jpeg', size: 3, caption: '公示照片' };
    const w = shown(LedgerPanel, view(
      { kind: 'fund_check', review: { status: 'rectifying', comments: [], decision: null, conclusion: null, steps: [] }, rectification: ledger({ progress: [{ id: 'p1', text: '已追回 1000 元', by: 'li', at_ms: 1_716_000_000_000, attachments: [photo] }] }) },
      { light: 'red', days_left: -3, review: { decision: null, comments: [], names: { li: '李组长' } } },
    ));
    await flushPromises();
    expect(w.get('[data-testid="ledger-light"]').text()).toBe('逾期 3 天');
    expect(w.get('[data-testid="ledger-light"]').attributes('data-light')).toBe('red');
    const entry = w.get('[data-testid="progress-0"]');
    expect(entry.text()).toContain('已追回 1000 元');
    expect(entry.text()).toContain('李组长');
    expect(entry.findAll('[data-testid="progress-thumb"]')).toHaveLength(1);
    w.unmount();
  });

  it('adds progress with its photos as one body and their sizes in the x-progress header', async () => {
    const rectifying = { status: 'rectifying' as const, comments: [], decision: null, conclusion: null, steps: [] };
    const calls = mockCalls((cmd) =>
      cmd === 'add_progress'
        ? view({ kind: 'fund_check', review: rectifying, rectification: ledger({ progress: [{ id: 'p1', text: '已公示', by: 'wang', at_ms: 0, attachments: [] }] }) })
        : null,
    );
    const w = shown(LedgerPanel, view({ kind: 'fund_check', review: rectifying, rectification: ledger() }, { light: 'yellow', days_left: 2 }));
    expect(w.get('[data-testid="ledger-light"]').text()).toBe('剩 2 天');
    await click('progress-save');
    expect(byTestid('progress-error')?.textContent).toContain('请填写进展情况');
    await type('progress-text', '已公示');
    const input = byTestid('progress-files') as HTMLInputElement;
    const files = [new File([new Uint8Array([1, 2])], 'a.jpg', { type: 'image/jpeg' }), new File([new Uint8Array([3, 4, 5])], 'b.png', { type: 'image/png' })];
    Object.defineProperty(input, 'files', { value: files, configurable: true });
    input.dispatchEvent(new Event('change'));
    await flushPromises();
    await click('progress-save');
    await vi.waitFor(() => expect(calls.some((c) => c.cmd === 'add_progress')).toBe(true));
    await flushPromises();
    const call = calls.find((c) => c.cmd === 'add_progress')!;
    expect(Array.from(call.args as Uint8Array)).toEqual([1, 2, 3, 4, 5]);
    expect(header(call, 'x-progress')).toEqual({
      record: ID, text: '已公示', files: [{ mime: 'image/jpeg', caption: 'a.jpg', size: 2 }, { mime: 'image/png', caption: 'b.png', size: 3 }],
    });
    expect(w.get('[data-testid="progress-0"]').text()).toContain('已公示');
    w.unmount();
  });
});

const row = (id: string, kind: string, title: string): RecordRow => ({
  row: { record_id: id, kind, title, township_name: '东岭镇', village_name: '上坪村', status: 'draft' } as never,
  pending: false, light: null, days_left: null, news: false, refusal: null, submitter_name: '',
});

describe('links', () => {
  it('shows the sources and the records citing it, each opening that record', async () => {
    const calls = mockCalls((cmd, args) => (cmd === 'record' ? view({ id: (args as { id: string }).id }) : null));
    const w = shown(LinksPanel, view({ kind: 'fund_check' }, {
      links: [
        { id: TALK, kind: 'talk', title: '与李四的谈话', status: 'submitted', cited: true },
        { id: PROBLEM, kind: 'fund_check', title: '引出的问题', status: 'draft', cited: false },
      ],
    }));
    const source = w.get(`[data-testid="link-${TALK}"]`);
    expect(source.text()).toContain('谈话记录');
    expect(source.text()).toContain('与李四的谈话');
    expect(source.text()).toContain('待审核');
    expect(w.get('[data-testid="links-sources"]').text()).toContain('问题来源');
    expect(w.get('[data-testid="links-citedBy"]').text()).toContain('引出的问题');
    // Only a source can be removed here.
    expect(w.find(`[data-testid="uncite-${PROBLEM}"]`).exists()).toBe(false);
    await w.get(`[data-testid="link-${TALK}"] button.open`).trigger('click');
    await flushPromises();
    expect(calls.filter((c) => c.cmd === 'record').map((c) => c.args)).toEqual([{ id: TALK }]);
    expect(useEditor().view?.record.id).toBe(TALK);
    w.unmount();
  });

  it('cites a source picked from a search of the records on the device, and removes it', async () => {
    const calls = mockCalls((cmd, args) => {
      if (cmd === 'list_records') return { rows: [row(ID, 'fund_check', '本记录'), row(PETITION, 'petition', '上坪村来信')], offset: 0, done: true };
      if (cmd === 'cite_record') {
        const a = args as { source: string; cite: boolean };
        return view({ kind: 'fund_check' }, { links: a.cite ? [{ id: a.source, kind: 'petition', title: '上坪村来信', status: 'draft', cited: true }] : [] });
      }
      return null;
    });
    vi.useFakeTimers();
    const w = shown(LinksPanel, view({ kind: 'fund_check' }));
    await click('cite-button');
    await type('cite-search', '来信');
    await vi.advanceTimersByTimeAsync(300);
    vi.useRealTimers();
    await flushPromises();
    const searches = calls.filter((c) => c.cmd === 'list_records').map((c) => (c.args as { query: { text: string | null } }).query.text);
    expect(searches[searches.length - 1]).toBe('来信');
    // The record itself is not offered.
    expect(byTestid(`cite-pick-${ID}`)).toBeNull();
    await click(`cite-pick-${PETITION}`);
    expect(calls.filter((c) => c.cmd === 'cite_record').map((c) => c.args)).toEqual([{ id: ID, source: PETITION, cite: true }]);
    expect(w.get(`[data-testid="link-${PETITION}"]`).attributes('data-cited')).toBe('true');
    await click(`uncite-${PETITION}`);
    expect(calls.filter((c) => c.cmd === 'cite_record').slice(-1)[0]?.args).toEqual({ id: ID, source: PETITION, cite: false });
    expect(w.find(`[data-testid="link-${PETITION}"]`).exists()).toBe(false);
    w.unmount();
  });
});

describe('the steps trail', () => {
  it('names each step author, and shows the id of one the directory does not list', () => {
    const step = (i: number, by: string) => ({
      id: `${i}@a`, from: 'draft' as const, to: 'submitted' as const, by, capacity: 'handler' as const, at_ms: 0, note: '', heads: [], conclusion: null, handover: null, prev: '', void: false,
    });
    const w = shown(ReviewPanel, view({ review: { status: 'submitted', comments: [], decision: null, conclusion: null, steps: [step(0, 'wang'), step(1, 'zhao')] } }, {
      review: { decision: null, comments: [], names: { wang: '王巡察' } },
    }));
    const users = (i: number) => w.get(`[data-testid="step-${i}"] [data-testid="user"]`);
    expect(users(0).text()).toBe('王巡察');
    expect(users(0).attributes('title')).toBe('wang');
    expect(users(1).text()).toBe('zhao');
    w.unmount();
  });
});
