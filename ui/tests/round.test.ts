// The round in the UI, against a mocked Tauri IPC: 乡镇 → 村 picked by name, households
// picked from the roster (one change), the 差额 column, totals and findings, relations
// picked from the subjects by name, withdrawing a draft, the server's address, and
// enrollment from a QR code.
import { describe, it, expect, beforeEach, afterEach, vi } from 'vitest';
import { defineComponent, h } from 'vue';
import { mount, flushPromises } from '@vue/test-utils';
import { mockIPC, clearMocks } from '@tauri-apps/api/mocks';
import QRCode from 'qrcode';
import { freshPinia } from './setup';
import { useEditor } from '../src/stores/editor';
import { useReference } from '../src/stores/reference';
import { useSession } from '../src/stores/session';
import { decodePixels } from '../src/lib/qr';
import { yuanText } from '../src/lib/format';
import { simpleId } from '../src/lib/values';
import { errorText } from '../src/lib/errors';
import { i18n } from '../src/i18n';
import ItemTable from '../src/components/ItemTable.vue';
import PlacePicker from '../src/components/PlacePicker.vue';
import SetupView from '../src/views/SetupView.vue';
import type { RecordView } from '../src/bindings/RecordView';
import type { ListInfo } from '../src/bindings/ListInfo';
import type { RosterPick } from '../src/bindings/RosterPick';
import type { Assignment } from '../src/bindings/Assignment';

vi.mock('../src/lib/qr', async (original) => ({
  ...(await original<typeof import('../src/lib/qr')>()),
  decodeQrImage: vi.fn(),
}));
const qr = await import('../src/lib/qr');

const H1 = '0190f5a0-0000-7000-8000-000000000001';
const H2 = '0190f5a0-0000-7000-8000-000000000002';
const S1 = '0190f5a0-0000-7000-8000-00000000000a';
const S2 = '0190f5a0-0000-7000-8000-00000000000b';
const S3 = '0190f5a0-0000-7000-8000-00000000000c';
const R1 = '0190f5a0-0000-7000-8000-0000000000f1';

const text = (zh: string, en: string, field: string, ty: ListInfo['fields'][number]['ty'] = 'text') => ({ field, key: field, zh, en, ty }) as ListInfo['fields'][number];
const beneficiaries: ListInfo = {
  list: 'beneficiaries', key: 'beneficiaries', zh: '受益农户', en: 'Beneficiary households', kind: 'fund_check',
  fields: [text('户主', 'Head', 'head'), text('应享金额（元）', 'Entitled', 'entitled', 'money'), text('实领金额（元）', 'Received', 'received', 'money')],
};
const relations: ListInfo = {
  list: 'relations', key: 'relations', zh: '人员关系', en: 'Relations', kind: 'gang_clue',
  fields: [text('人员甲', 'From', 'from'), text('人员乙', 'To', 'to')],
};

function view(change: Partial<RecordView> = {}, record: Partial<RecordView['record']> = {}): RecordView {
  return {
    record: {
      id: 'r1', kind: 'fund_check', creator: 'ann', created_at_ms: 0, fields: {}, lists: {}, tags: [], issues: [],
      attachments: [], narrative: '', review: { status: 'draft', comments: [], decision: null, conclusion: null, steps: [] }, malformed: [], withdrawn: null, rectification: null, sources: [], signatures: [],
      ...record,
    },
    problems: [], conflicts: [], review: { decision: null, comments: [], names: {} }, pending: false, refusal: null, informant: null, next_steps: [{ to: 'submitted', who: { first: 'handler', or: null }, allowed: true, needs_note: false, needs_conclusion: false, needs_handover: false }], light: null, days_left: null, links: [], can_review: false, heads: [],
    shortfall: null, findings: [], unknown_places: [],
    ...change,
  };
}

const fundCheck = () =>
  view(
    {
      shortfall: {
        households: [
          { item: H1, head: '王建国', entitled: '3000.00', received: '3000.00', difference: '0.00' },
          { item: H2, head: '李秀英', entitled: '3000.00', received: '2000.00', difference: '1000.00' },
        ],
        entitled: '6000.00', received: '5000.00', shortfall: '1000.00', any_received: true,
      },
      findings: [{ path: `beneficiaries/${simpleId(H2)}/received`, code: 'received_below_entitled', zh: '实领少于应享 1,000.00 元', en: 'received 1,000.00 yuan less than entitled' }],
    },
    {
      fields: { village: { division: { code: '330199101001', name: '上坪村' } } },
      lists: {
        beneficiaries: [
          { id: H1, values: { head: { text: '王建国' }, entitled: { money: '3000.00' }, received: { money: '3000.00' } } },
          { id: H2, values: { head: { text: '李秀英' }, entitled: { money: '3000.00' }, received: { money: '2000.00' } } },
        ],
      },
    },
  );

const pick = (index: number, head: string, tail: string, added = false): RosterPick => ({
  key: { roster: 'rs1', index },
  fund: '到户补贴',
  household: { head, id_number: `**************${tail}`, account: '************2222', entitled: '3000.00', paid_on: '', group: '一组', phone: '' },
  added,
});

beforeEach(() => {
  freshPinia();
  localStorage.clear();
  i18n.global.locale.value = 'zh-CN';
});
afterEach(() => {
  clearMocks();
  document.body.innerHTML = '';
});

describe('the reference data', () => {
  it("loads the user's townships and team, asks for a township's villages once, and is forgotten on lock", async () => {
    const calls: string[] = [];
    const assignment: Assignment = {
      teams: [{ team_id: 't1', team: '第一巡察组', round_id: 'r1', round: '2024年第一轮', role: 'member', places: [] }],
      rounds: [], has_divisions: true,
    };
    mockIPC((cmd, args) => {
      calls.push(cmd);
      if (cmd === 'townships') return [{ code: '330199101000', name: '东岭镇', parent: '330199000000' }];
      if (cmd === 'assignment') return assignment;
      if (cmd === 'villages') return [{ code: '330199101001', name: '上坪村', parent: (args as { township: string }).township }];
      if (cmd === 'lock') return { stage: 'locked', session: null, demo_pin: null, version: '0' };
    });
    const reference = useReference();
    await reference.load();
    expect(reference.hasPlaces).toBe(true);
    expect(reference.onlyTeam?.team).toBe('第一巡察组');
    expect((await reference.loadVillages('330199101000')).map((v) => v.name)).toEqual(['上坪村']);
    await reference.loadVillages('330199101000');
    expect(calls.filter((c) => c === 'villages')).toHaveLength(1);
    await useSession().lock();
    expect(reference.townships).toEqual([]);
    expect(reference.assignment).toBeNull();
  });
});

describe('the 乡镇 → 村 picker', () => {
  it('shows names, sends the picked code, and flags a place the divisions do not know', async () => {
    const placed: unknown[] = [];
    mockIPC((cmd, args) => {
      if (cmd === 'villages') return [{ code: '330199101001', name: '上坪村', parent: '330199101000' }, { code: '330199101002', name: '石门村', parent: '330199101000' }];
      if (cmd === 'place_record') {
        placed.push(args);
        return view();
      }
    });
    const reference = useReference();
    reference.townships = [{ code: '330199101000', name: '东岭镇', parent: '' }, { code: '330199102000', name: '西溪乡', parent: '' }];
    useEditor().view = view();
    const w = mount(PlacePicker, {
      props: {
        township: { division: { code: '330199101000', name: '东岭镇' } },
        village: { division: { code: '330199101777', name: '新村' } },
        unknown: [{ path: 'village', code: 'unknown_division', zh: '村“新村”不在本轮区划表中', en: 'not in the divisions' }],
        problems: { township: '', village: '' },
      },
    });
    await flushPromises();
    const township = w.find('[data-testid="pick-township"]');
    expect(township.findAll('option').map((o) => o.text())).toEqual(['请选择', '东岭镇', '西溪乡']);
    expect((township.element as HTMLSelectElement).value).toBe('330199101000');
    const village = w.find('[data-testid="pick-village"]');
    expect(village.findAll('option').map((o) => o.text())).toEqual(['请选择', '新村（330199101777）', '上坪村', '石门村']);
    expect(w.find('[data-testid="unknown-village"]').text()).toContain('不在本轮区划表中');
    await village.setValue('330199101002');
    await flushPromises();
    expect(placed).toEqual([{ id: 'r1', code: '330199101002' }]);
  });
});

describe('the household table', () => {
  it('shows each 差额, the totals row and the finding with its household', async () => {
    const editor = useEditor();
    editor.view = fundCheck();
    const w = mount(ItemTable, { props: { list: beneficiaries, items: editor.view.record.lists.beneficiaries! } });
    await flushPromises();
    expect(w.find('[data-testid="beneficiaries-0-difference"]').text()).toBe('0.00');
    const short = w.find('[data-testid="beneficiaries-1-difference"]');
    expect(short.text()).toBe('1,000.00');
    expect(short.classes()).toContain('short');
    expect(w.find('[data-testid="total-head"]').text()).toBe('合计');
    expect(w.find('[data-testid="total-entitled"]').text()).toBe('6,000.00');
    expect(w.find('[data-testid="total-received"]').text()).toBe('5,000.00');
    expect(w.find('[data-testid="total-difference"]').text()).toBe('1,000.00');
    expect(w.find('[data-testid="findings"]').text()).toContain('李秀英：实领少于应享 1,000.00 元');
  });

  it('adds the households picked from the roster in one call, in roster order', async () => {
    const searches: string[] = [];
    const added: unknown[] = [];
    mockIPC((cmd, args) => {
      const a = args as { id: string; query: string; keys: unknown };
      if (cmd === 'search_roster') {
        searches.push(a.query);
        const all = [pick(0, '王建国', '1234', true), pick(1, '李秀英', '5678'), pick(2, '张德明', '4321'), pick(3, '王建国', '9876')];
        return a.query ? all.filter((p) => a.query.split(' ').some((q) => p.household.head.includes(q))) : all;
      }
      if (cmd === 'add_from_roster') {
        added.push(a.keys);
        return fundCheck();
      }
    });
    const editor = useEditor();
    editor.view = fundCheck();
    // Offered where the round's reference data is on the device.
    const bare = mount(ItemTable, { props: { list: beneficiaries, items: editor.view.record.lists.beneficiaries! } });
    expect(bare.find('[data-testid="add-from-roster"]').exists()).toBe(false);
    bare.unmount();
    useReference().townships = [{ code: '330199101000', name: '东岭镇', parent: '' }];
    const w = mount(ItemTable, { props: { list: beneficiaries, items: editor.view.record.lists.beneficiaries! }, attachTo: document.body });
    await w.find('[data-testid="add-from-roster"]').trigger('click');
    await flushPromises();
    const rows = () => Array.from(document.querySelectorAll<HTMLElement>('[data-testid="roster-row"]'));
    expect(rows().map((r) => `${r.dataset.head}#${r.dataset.idTail}`)).toEqual(['王建国#1234', '李秀英#5678', '张德明#4321', '王建国#9876']);
    // Namesakes are told apart by the ID's last digits; one already in the table says so.
    expect(rows()[0].textContent).toContain('身份证尾号 1234');
    expect(rows()[0].textContent).toContain('已添加');

    const search = document.querySelector<HTMLInputElement>('[data-testid="roster-search"]')!;
    search.value = '王 张';
    search.dispatchEvent(new Event('input'));
    await new Promise((r) => setTimeout(r, 250));
    await flushPromises();
    expect(searches).toEqual(['', '王 张']);
    expect(rows().map((r) => r.dataset.head)).toEqual(['王建国', '张德明', '王建国']);
    // Tapped in another order than the roster's: added in the roster's.
    document.querySelector<HTMLInputElement>('[data-testid="roster-check-王建国-9876"]')!.click();
    document.querySelector<HTMLInputElement>('[data-testid="roster-check-张德明-4321"]')!.click();
    await flushPromises();
    const add = document.querySelector<HTMLButtonElement>('[data-testid="roster-add"]')!;
    expect(add.textContent).toContain('添加所选（2 户）');
    add.click();
    await flushPromises();
    expect(added).toEqual([[{ roster: 'rs1', index: 2 }, { roster: 'rs1', index: 3 }]]);
    w.unmount();
  });
});

describe('a relation', () => {
  it("picks 人员甲 and 人员乙 from the record's subjects by name, telling namesakes apart", async () => {
    const inputs: unknown[] = [];
    mockIPC((cmd, args) => {
      if (cmd === 'input_field') {
        inputs.push((args as { input: unknown }).input);
        return useEditor().view;
      }
    });
    const editor = useEditor();
    editor.view = view({}, {
      kind: 'gang_clue',
      lists: {
        subjects: [
          { id: S1, values: { name: { text: '张三' }, employer: { text: '石门村委' } } },
          { id: S2, values: { name: { text: '李四' } } },
          { id: S3, values: { name: { text: '张三' } } },
        ],
        // Relations store their subjects' ids as Rust writes them in paths: no hyphens.
        relations: [{ id: R1, values: { from: { text: simpleId(S2) } } }],
      },
    });
    const w = mount(ItemTable, { props: { list: relations, items: editor.view.record.lists.relations! } });
    const from = w.find('[data-testid="input-relations-0-from"]');
    expect(from.element.tagName).toBe('SELECT');
    expect(from.findAll('option').map((o) => o.text())).toEqual(['请选择', '张三（石门村委）', '李四', '张三（第 3 人）']);
    expect((from.element as HTMLSelectElement).value).toBe(simpleId(S2));
    await w.find('[data-testid="input-relations-0-to"]').setValue(simpleId(S1));
    await flushPromises();
    expect(inputs).toEqual([{ at: 'item', id: R1, field: 'to', text: simpleId(S1) }]);
  });
});

describe('withdrawing a draft', () => {
  it("asks Rust, and shows the domain's message when the record is no longer a draft", async () => {
    let answer: 'ok' | 'refused' = 'ok';
    mockIPC((cmd) => {
      if (cmd === 'withdraw_record') {
        if (answer === 'refused') throw { code: 'not_a_draft', message: '只有草稿可以撤回，这条记录已是“待审核” / only drafts can be withdrawn' };
        return view({}, { withdrawn: { by: 'ann', at_ms: 1 } });
      }
    });
    const editor = useEditor();
    editor.view = view();
    expect(await editor.withdraw()).toBe(true);
    expect(editor.view?.record.withdrawn?.by).toBe('ann');
    answer = 'refused';
    expect(await editor.withdraw()).toBe(false);
    expect(editor.error?.code).toBe('not_a_draft');
    expect(errorText(editor.error!, i18n.global.t)).toContain('只有草稿可以撤回');
  });
});

describe('the server address', () => {
  it('moves, or says the server there is another one', async () => {
    mockIPC((cmd, args) => {
      if (cmd === 'move_server') {
        const url = (args as { url: string }).url;
        if (url.includes('other')) throw { code: 'other_server', message: 'x / y' };
        return { stage: 'unlocked', demo_pin: null, version: '0', session: {
          user_id: 'ann', user_name: 'ann', role: 'inspector', jurisdiction: 'district', device_id: 'd1', device_name: '东岭村巡察平板',
          server_url: url, can_review: false, records_on_device: 0,
        } };
      }
    });
    const session = useSession();
    expect(await session.moveServer('http://other:8470')).toBe(false);
    expect(errorText(session.error!, i18n.global.t)).toContain('不是本机注册的服务器');
    expect(await session.moveServer('http://new:8470')).toBe(true);
    expect(session.info?.server_url).toBe('http://new:8470');
  });
});

describe('enrollment from a QR code', () => {
  it('reads the text of a QR code image', async () => {
    const uri = 'xuncha:enroll?server=http%3A%2F%2F127.0.0.1%3A8470&code=7KQM-4XPA-2R';
    const code = QRCode.create(uri, { errorCorrectionLevel: 'M' });
    const [scale, quiet] = [4, 4];
    const side = (code.modules.size + 2 * quiet) * scale;
    const pixels = new Uint8ClampedArray(side * side * 4).fill(255);
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < side; x++) {
        const [r, c] = [Math.floor(y / scale) - quiet, Math.floor(x / scale) - quiet];
        const dark = r >= 0 && c >= 0 && r < code.modules.size && c < code.modules.size && code.modules.get(r, c);
        if (dark) pixels.fill(0, (y * side + x) * 4, (y * side + x) * 4 + 3);
      }
    }
    expect(await decodePixels(pixels, side, side)).toBe(uri);
    expect(await decodePixels(new Uint8ClampedArray(side * side * 4).fill(255), side, side)).toBeNull();
  });

  it('fills in the server and code from the scanned picture, and says when none can be read', async () => {
    const texts: string[] = [];
    mockIPC((cmd, args) => {
      if (cmd === 'enroll_link') {
        texts.push((args as { text: string }).text);
        return { server: 'http://10.0.0.5:8470', code: '7KQM-4XPA-2R' };
      }
    });
    const decode = vi.mocked(qr.decodeQrImage);
    const w = mount(SetupView);
    const input = w.find('[data-testid="setup-qr-input"]');
    expect(input.attributes('accept')).toBe('image/*');
    expect(input.attributes('capture')).toBe('environment');
    const choose = async () => {
      Object.defineProperty(input.element, 'files', { value: [new File(['x'], 'qr.png', { type: 'image/png' })], configurable: true });
      await input.trigger('change');
      await flushPromises();
    };

    decode.mockResolvedValueOnce(null);
    await choose();
    expect(w.find('[data-testid="setup-error"]').text()).toContain('未能识别');

    decode.mockResolvedValueOnce('xuncha:enroll?server=http%3A%2F%2F10.0.0.5%3A8470&code=7KQM-4XPA-2R');
    await choose();
    expect(texts).toEqual(['xuncha:enroll?server=http%3A%2F%2F10.0.0.5%3A8470&code=7KQM-4XPA-2R']);
    expect((w.find('[data-testid="setup-server"] input').element as HTMLInputElement).value).toBe('http://10.0.0.5:8470');
    expect((w.find('[data-testid="setup-code"] input').element as HTMLInputElement).value).toBe('7KQM-4XPA-2R');
    expect(w.find('[data-testid="setup-scanned"]').exists()).toBe(true);
    expect(w.find('[data-testid="setup-error"]').exists()).toBe(false);
  });
});

describe('amounts', () => {
  it('are grouped for reading, exactly as Rust wrote them', () => {
    expect(yuanText('1234567.80')).toBe('1,234,567.80');
    expect(yuanText('-1000.00')).toBe('-1,000.00');
    expect(yuanText('0.00')).toBe('0.00');
    expect(yuanText('')).toBe('—');
  });
});

describe('the record editor', () => {
  it('offers 撤回草稿 on a draft only; confirmed, the draft is withdrawn and closed', async () => {
    const withdrawn: string[] = [];
    mockIPC((cmd, args) => {
      if (cmd === 'withdraw_record') {
        withdrawn.push((args as { id: string }).id);
        return view({}, { withdrawn: { by: 'ann', at_ms: 1 } });
      }
      if (cmd === 'list_records') return { rows: [], offset: 0, done: true };
      if (cmd === 'facets') return { townships: [], villages: [], rounds: [], kinds: [], statuses: [] };
    });
    const { default: RecordEditor } = await import('../src/views/RecordEditor.vue');
    const editor = useEditor();
    // As in the records screen: the editor is shown while a record is open.
    const Shown = defineComponent({ setup: () => () => (editor.view ? h(RecordEditor) : null) });
    editor.view = view({}, { review: { status: 'submitted', comments: [], decision: null, conclusion: null, steps: [] } });
    const submitted = mount(Shown, { attachTo: document.body });
    expect(submitted.find('[data-testid="withdraw"]').exists()).toBe(false);
    submitted.unmount();

    editor.view = view();
    const w = mount(Shown, { attachTo: document.body });
    await w.find('[data-testid="withdraw"]').trigger('click');
    await flushPromises();
    const confirm = document.querySelector<HTMLButtonElement>('.van-dialog__confirm');
    expect(document.querySelector('.van-dialog')?.textContent).toContain('确定撤回');
    confirm!.click();
    await flushPromises();
    expect(withdrawn).toEqual(['r1']);
    expect(editor.view).toBeNull();
    expect(w.find('[data-testid="editor"]').exists()).toBe(false);
    w.unmount();
  });

  it('keeps what is typed in an informant field when the answer to an earlier keystroke arrives', async () => {
    mockIPC(() => null);
    const { default: RecordEditor } = await import('../src/views/RecordEditor.vue');
    const editor = useEditor();
    const Shown = defineComponent({ setup: () => () => (editor.view ? h(RecordEditor) : null) });
    const informant = (name: string) => ({ name, contact: '', note: '' });
    editor.view = view({ informant: informant('') }, { kind: 'gang_clue' });
    const w = mount(Shown, { attachTo: document.body });
    const input = w.find<HTMLInputElement>('[data-testid="informant-name"]');
    await input.trigger('focus');
    input.element.value = '石门村举报人';
    await input.trigger('input');
    // The answer to the keystroke that had typed only 石门 arrives now.
    editor.view = view({ informant: informant('石门') }, { kind: 'gang_clue' });
    await flushPromises();
    expect(input.element.value).toBe('石门村举报人');
    // Once the field is left, the stored value is shown again.
    await input.trigger('blur');
    editor.view = view({ informant: informant('石门村举报人') }, { kind: 'gang_clue' });
    await flushPromises();
    expect(input.element.value).toBe('石门村举报人');
    w.unmount();
  });

  it("shows the server's refusal on the record: what it means and what to do, in words of its code", async () => {
    mockIPC(() => null);
    const { default: RecordEditor } = await import('../src/views/RecordEditor.vue');
    const editor = useEditor();
    const Shown = defineComponent({ setup: () => () => (editor.view ? h(RecordEditor) : null) });
    editor.view = view();
    const clean = mount(Shown, { attachTo: document.body });
    expect(clean.find('[data-testid="refusal"]').exists()).toBe(false);
    clean.unmount();
    editor.view = view({ pending: true, refusal: { code: 'transition_role' } });
    const refused = mount(Shown, { attachTo: document.body });
    const banner = refused.find('[data-testid="refusal"]');
    expect(banner.attributes('data-code')).toBe('transition_role');
    expect(banner.text()).toContain('这一步不由您办理');
    expect(banner.text()).toContain('服务器拒收了这条记录的修改');
    expect(banner.text()).not.toMatch(/[A-Za-z]/);
    refused.unmount();
    // A code this version does not know (Rust reads it as `unknown`) still says what happened.
    editor.view = view({ pending: true, refusal: { code: 'unknown' } });
    const unknown = mount(Shown, { attachTo: document.body });
    expect(unknown.find('[data-testid="refusal"]').text()).toContain('服务器拒收了这条记录的修改');
    expect(unknown.find('[data-testid="refusal"]').text()).toContain('发生了未知错误');
    unknown.unmount();
  });
});

describe('the lock screen', () => {
  it('shows the sync that goes on while locked, without offering to sync (locked, Rust refuses)', async () => {
    const calls: string[] = [];
    mockIPC((cmd) => {
      calls.push(cmd);
    });
    const { default: UnlockView } = await import('../src/views/UnlockView.vue');
    const { useSync } = await import('../src/stores/sync');
    const before = mount(UnlockView);
    expect(before.find('[data-testid="sync-status"]').exists()).toBe(false);
    before.unmount();
    useSync().apply({ state: 'synced', pending: 0, refused: 0, last_synced_ms: 1_700_000_000_000, progress: { round_trips: 1, documents_up: 0, documents_down: 2, bytes_up: 0, bytes_down: 0 }, error: null, server_url: 'http://s', route: 'server', relay_synced_ms: null });
    const w = mount(UnlockView);
    const badge = w.find('[data-testid="sync-status"]');
    expect(badge.attributes('data-state')).toBe('synced');
    expect(badge.attributes('data-down')).toBe('2');
    await badge.trigger('click');
    await flushPromises();
    expect(calls).not.toContain('sync_now');
  });
});
