// The stores against a mocked Tauri IPC: what they send to Rust and what they make of
// the answers (errors by code, order of edits, stale pages).
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { mockIPC, clearMocks } from '@tauri-apps/api/mocks';
import './setup';
import { freshPinia } from './setup';
import { useSession } from '../src/stores/session';
import { useRecords } from '../src/stores/records';
import { useEditor } from '../src/stores/editor';
import { useSync } from '../src/stores/sync';
import type { RecordView } from '../src/bindings/RecordView';
import type { AppStatus } from '../src/bindings/AppStatus';

const unlocked: AppStatus = {
  stage: 'unlocked',
  demo_pin: null,
  version: '0.1.0',
  session: {
    user_id: 'wang', user_name: '王巡察', role: 'inspector', jurisdiction: 'district', device_id: 'd1', device_name: '东岭村巡察平板',
    server_url: 'http://127.0.0.1:1', can_review: false, records_on_device: 0,
  },
};

function view(id: string, allocated?: string): RecordView {
  return {
    record: {
      id, kind: 'fund_check', creator: 'wang', created_at_ms: 0,
      fields: allocated ? { allocated: { money: allocated } } : {},
      lists: {}, tags: [], issues: [], attachments: [], narrative: '',
      review: { status: 'draft', comments: [], decision: null, conclusion: null, steps: [] }, malformed: [], withdrawn: null, rectification: null, sources: [], signatures: [],
    },
    problems: [], conflicts: [], review: { decision: null, comments: [], names: {} }, pending: true, refusal: null, informant: null, next_steps: [{ to: 'submitted', who: { first: 'handler', or: null }, allowed: true, needs_note: false, needs_conclusion: false, needs_handover: false }], light: null, days_left: null, links: [], can_review: false, heads: [], shortfall: null, findings: [], unknown_places: [],
  };
}

beforeEach(() => {
  freshPinia();
  localStorage.clear();
});
afterEach(() => clearMocks());

describe('session', () => {
  it('keeps the lock screen and says why on a wrong PIN, then unlocks', async () => {
    const pins: string[] = [];
    mockIPC((cmd, args) => {
      if (cmd === 'app_status') return { ...unlocked, stage: 'locked', session: null };
      if (cmd === 'unlock') {
        const pin = (args as { pin: string }).pin;
        pins.push(pin);
        if (pin !== '246810') throw { code: 'wrong_pin', message: 'PIN 错误，数据库未改动。请重新输入 / wrong PIN' };
        return unlocked;
      }
    });
    const session = useSession();
    await session.load();
    expect(session.stage).toBe('locked');
    expect(await session.unlock('111111')).toBe(false);
    expect(session.error?.code).toBe('wrong_pin');
    expect(session.stage).toBe('locked');
    expect(await session.unlock('246810')).toBe(true);
    expect(session.error).toBeNull();
    expect(session.stage).toBe('unlocked');
    expect(session.canReview).toBe(false);
    expect(pins).toEqual(['111111', '246810']);
  });

  it('sends the whole first-run form to enroll', async () => {
    let sent: unknown = null;
    mockIPC((cmd, args) => {
      if (cmd === 'enroll') {
        sent = (args as { input: unknown }).input;
        return unlocked;
      }
    });
    const session = useSession();
    await session.enroll({ server: 'http://127.0.0.1:9', code: 'ABCD', device_name: '平板', pin: '246810' });
    expect(sent).toEqual({ server: 'http://127.0.0.1:9', code: 'ABCD', device_name: '平板', pin: '246810' });
    expect(session.info?.user_name).toBe('王巡察');
  });

  it('forgets the records it holds when it locks, and keeps the sync status', async () => {
    mockIPC((cmd) => {
      if (cmd === 'list_records') return { rows: [{ row: { record_id: 'r1' }, pending: false }], offset: 0, done: true };
      if (cmd === 'record') return view('r1', '120000');
      if (cmd === 'lock') return { ...unlocked, stage: 'locked', session: null };
    });
    const session = useSession();
    const records = useRecords();
    const editor = useEditor();
    const sync = useSync();
    session.status = unlocked;
    await records.setFilters({ text: '李秀英' });
    await editor.open('r1');
    sync.apply({ state: 'synced', pending: 0, refused: 0, last_synced_ms: 1, progress: null, error: null, server_url: '', route: 'server', relay_synced_ms: null });
    expect(records.rows).toHaveLength(1);
    expect(editor.view?.record.id).toBe('r1');

    expect(await session.lock()).toBe(true);
    expect(session.stage).toBe('locked');
    expect(records.rows).toEqual([]);
    expect(records.filters.text).toBe('');
    expect(editor.view).toBeNull();
    expect(sync.state).toBe('synced');
  });

  it('remembers the auto-lock delay', () => {
    const session = useSession();
    session.setAutoLock(2);
    expect(localStorage.getItem('xuncha.autoLockMinutes')).toBe('2');
  });
});

describe('records', () => {
  it('turns filters into a list query, pages on, and drops stale answers', async () => {
    const queries: Array<Record<string, unknown>> = [];
    mockIPC(async (cmd, args) => {
      if (cmd !== 'list_records') return;
      const query = (args as { query: Record<string, unknown> }).query;
      queries.push(query);
      // The first (unfiltered) answer arrives late: it must not overwrite the filtered one.
      if (!query.text) await new Promise((r) => setTimeout(r, 30));
      const rows = Array.from({ length: query.offset === 0 ? 200 : 3 }, (_, i) => ({
        row: { record_id: `${query.text ?? 'all'}-${Number(query.offset) + i}` },
        pending: false,
      }));
      return { rows, offset: query.offset, done: rows.length < 200 };
    });
    const records = useRecords();
    const first = records.reload();
    await records.setFilters({ text: '补贴', kind: 'fund_check', township: '330199101000', village: '330199101201' });
    await first;
    expect(records.rows[0].row.record_id).toBe('补贴-0');
    expect(queries[1]).toMatchObject({ text: '补贴', kind: 'fund_check', township: '330199101000', village: '330199101201', offset: 0, limit: 200, review_queue: false });
    await records.loadMore();
    expect(records.rows).toHaveLength(203);
    expect(records.done).toBe(true);
    await records.loadMore();
    expect(queries).toHaveLength(3);
  });
});

describe('editor', () => {
  it('coalesces fast typing: while one save runs, only the latest text of a field waits', async () => {
    const seen: string[] = [];
    mockIPC(async (cmd, args) => {
      if (cmd === 'record') return view('r1');
      if (cmd === 'input_field') {
        const { input } = args as { input: { text: string } };
        await new Promise((r) => setTimeout(r, 10));
        seen.push(input.text);
        return view('r1', input.text);
      }
    });
    const editor = useEditor();
    await editor.open('r1');
    const first = editor.input({ at: 'field', field: 'allocated', text: '1' });
    await new Promise((r) => setTimeout(r, 2)); // the first save is under way
    const saves = [first, ...['12', '120', '1200'].map((text) => editor.input({ at: 'field', field: 'allocated', text }))];
    expect(await Promise.all(saves)).toEqual([true, true, true, true]);
    expect(seen).toEqual(['1', '1200']);
    expect(editor.view?.record.fields.allocated).toEqual({ money: '1200' });
  });

  it('sends each input as a field-level operation, in the order typed', async () => {
    const seen: string[] = [];
    mockIPC(async (cmd, args) => {
      if (cmd === 'record') return view('r1');
      if (cmd === 'input_field') {
        const { input } = args as { input: { text: string } };
        // Earlier inputs take longer: order must still hold.
        await new Promise((r) => setTimeout(r, 20 - input.text.length * 5));
        seen.push(input.text);
        return view('r1', input.text);
      }
    });
    const editor = useEditor();
    await editor.open('r1');
    // Different fields are never merged; their order holds.
    await Promise.all([
      editor.input({ at: 'field', field: 'allocated', text: '1' }),
      editor.input({ at: 'field', field: 'disbursed', text: '12' }),
      editor.input({ at: 'field', field: 'fund_name', text: '120' }),
    ]);
    expect(seen).toEqual(['1', '12', '120']);
    expect(editor.view?.record.fields.allocated).toEqual({ money: '120' });
    expect(editor.saving).toBe(false);
  });

  it('marks a refused value as not saved on its field, and clears it once a value is accepted', async () => {
    mockIPC((cmd, args) => {
      if (cmd === 'record') return view('r1');
      if (cmd === 'input_field') {
        const { input } = args as { input: { text: string } };
        if (input.text.includes('万')) throw { code: 'bad_input', cause: 'bad_amount', params: {}, message: '金额格式错误 “12万” / malformed amount' };
        return view('r1', input.text);
      }
    });
    const editor = useEditor();
    await editor.open('r1');
    expect(await editor.input({ at: 'field', field: 'allocated', text: '12万' })).toBe(false);
    expect(editor.unsaved['field:allocated']?.cause).toBe('bad_amount');
    expect(editor.error).toBeNull();
    expect(await editor.input({ at: 'field', field: 'allocated', text: '120000' })).toBe(true);
    expect(editor.unsaved['field:allocated']).toBeUndefined();
  });

  it('adds a list item with an id from Rust, as one insert', async () => {
    const edits: unknown[] = [];
    mockIPC((cmd, args) => {
      if (cmd === 'record') return view('r1');
      if (cmd === 'new_item_id') return '0190f5a0-0000-7000-8000-000000000001';
      if (cmd === 'edit_record') {
        edits.push(...(args as { edits: unknown[] }).edits);
        return view('r1');
      }
    });
    const editor = useEditor();
    await editor.open('r1');
    expect(await editor.addItem('beneficiaries')).toBe('0190f5a0-0000-7000-8000-000000000001');
    expect(edits).toEqual([{ op: 'insert_item', list: 'beneficiaries', id: '0190f5a0-0000-7000-8000-000000000001', values: [] }]);
  });

  it('shows other errors (like a step that is not the user\'s) on the record', async () => {
    mockIPC((cmd) => {
      if (cmd === 'record') return view('r1');
      if (cmd === 'transition_record') throw { code: 'forbidden', message: '只有副组长可以把记录从“待审核”改为“副组长已审核”' };
    });
    const editor = useEditor();
    await editor.open('r1');
    expect(await editor.transition({ to: 'deputy_reviewed', note: '', conclusion: null, handover: null })).toBe(false);
    expect(editor.error?.code).toBe('forbidden');
    expect(editor.error?.message).toContain('只有副组长');
  });

  it('takes a workflow step with the transition command and keeps the record Rust returns', async () => {
    const calls: unknown[] = [];
    mockIPC((cmd, args) => {
      if (cmd === 'record') return view('r1');
      if (cmd === 'transition_record') {
        calls.push(args);
        const v = view('r1');
        v.record.review.status = 'submitted';
        return v;
      }
    });
    const editor = useEditor();
    await editor.open('r1');
    expect(await editor.transition({ to: 'submitted', note: '', conclusion: null, handover: null })).toBe(true);
    expect(calls).toEqual([{ id: 'r1', input: { to: 'submitted', note: '', conclusion: null, handover: null } }]);
    expect(editor.view?.record.review.status).toBe('submitted');
    expect(editor.error).toBeNull();
  });
});

describe('sync', () => {
  it('takes the status Rust sends', () => {
    const sync = useSync();
    expect(sync.state).toBe('idle');
    sync.apply({ state: 'offline', pending: 3, refused: 0, last_synced_ms: null, progress: null, error: null, server_url: '', route: null, relay_synced_ms: null });
    expect(sync.state).toBe('offline');
    expect(sync.pending).toBe(3);
  });
});

describe('photo settings', () => {
  it('default to a watermark at 2560 px without the original, and keep what is chosen', async () => {
    const { savedPhotoPrefs, usePhotoPrefs } = await import('../src/stores/photos');
    localStorage.removeItem('xuncha.photos');
    expect(savedPhotoPrefs()).toEqual({ watermark: true, longSide: 2560, keepOriginal: false });
    localStorage.setItem('xuncha.photos', JSON.stringify({ watermark: 'yes', longSide: 999, keepOriginal: true }));
    expect(savedPhotoPrefs()).toEqual({ watermark: true, longSide: 2560, keepOriginal: true });
    localStorage.setItem('xuncha.photos', '{not json');
    expect(savedPhotoPrefs().longSide).toBe(2560);
    freshPinia();
    const prefs = usePhotoPrefs();
    prefs.set({ watermark: false, longSide: 1280 });
    expect(JSON.parse(localStorage.getItem('xuncha.photos')!)).toEqual({ watermark: false, longSide: 1280, keepOriginal: false });
  });
});
