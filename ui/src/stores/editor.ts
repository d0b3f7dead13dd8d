// The open record. Every change goes to Rust as a field-level operation the moment it is
// made, in order (one queue), and the record comes back as Rust stored it. A value that
// Rust refuses is shown as "not saved" on its field; nothing else changes.
import { defineStore } from 'pinia';
import { ipc, IpcError } from '../ipc';
import { useRecords } from './records';
import type { RecordView } from '../bindings/RecordView';
import type { FieldInput } from '../bindings/FieldInput';
import type { Edit } from '../bindings/Edit';
import type { FieldPath } from '../bindings/FieldPath';
import type { NewRecordInput } from '../bindings/NewRecordInput';
import type { AttachmentInput } from '../bindings/AttachmentInput';
import type { InformantField } from '../bindings/InformantField';
import type { ItemList } from '../bindings/ItemList';
import type { RosterKey } from '../bindings/RosterKey';
import type { TransitionInput } from '../bindings/TransitionInput';

/** The key of a form slot, for its "not saved" message. */
export function slotOf(input: FieldInput): string {
  return input.at === 'field' ? `field:${input.field}` : `item:${input.id}:${input.field}`;
}

let queue: Promise<unknown> = Promise.resolve();

/** Operations waiting in the queue that a newer value of the same slot replaces: typing
 * fast sends the latest text once the previous save is done, not every keystroke in turn. */
const waiting = new Map<string, { run: () => Promise<RecordView>; done: Promise<RecordView> }>();

export const useEditor = defineStore('editor', {
  state: () => ({
    view: null as RecordView | null,
    inFlight: 0,
    /** Slot → why the value was not saved (worded by lib/errors.ts). */
    unsaved: {} as Record<string, IpcError>,
    error: null as IpcError | null,
    savedAt: null as number | null,
    /** Counts refused submissions (提交审核 of a record with problems left): the editor
     * scrolls to the first field to fix and marks every one each time it goes up. */
    attention: 0,
  }),
  getters: {
    id: (s) => s.view?.record.id ?? null,
    saving: (s) => s.inFlight > 0,
  },
  actions: {
    /** Runs `op` after every earlier operation, so edits reach Rust in the order made. */
    enqueue<T>(op: () => Promise<T>): Promise<T> {
      this.inFlight += 1;
      const run = queue.then(op, op);
      queue = run.catch(() => undefined);
      return run.finally(() => {
        this.inFlight -= 1;
      });
    },
    /** Like `enqueue`, but a newer operation on the same slot that arrives while this one
     * still waits replaces it (both callers get the newer result). Each operation sets a
     * whole value (a field's text, the narrative), so only the latest one matters. */
    enqueueLatest(slot: string, run: () => Promise<RecordView>): Promise<RecordView> {
      const queued = waiting.get(slot);
      if (queued) {
        queued.run = run;
        return queued.done;
      }
      const entry = { run, done: Promise.resolve() as unknown as Promise<RecordView> };
      waiting.set(slot, entry);
      entry.done = this.enqueue(() => {
        waiting.delete(slot);
        return entry.run();
      });
      return entry.done;
    },
    /** Resolves once every operation queued so far is done (a document is made from the
     * record as stored, the last keystroke included). */
    settled(): Promise<void> {
      return queue.then(() => undefined);
    },
    accept(view: RecordView) {
      if (this.view && this.view.record.id !== view.record.id) return;
      this.view = view;
      this.savedAt = Date.now();
    },
    async open(id: string) {
      this.unsaved = {};
      this.error = null;
      const view = await this.enqueue(() => ipc.record(id));
      this.view = view;
      this.attention = 0;
      // What was new on it (a 退回补充, a decision) has now been seen.
      void useRecords().seen(id);
    },
    close() {
      this.view = null;
      this.unsaved = {};
    },
    async create(input: NewRecordInput) {
      const view = await this.enqueue(() => ipc.createRecord(input));
      this.view = view;
      this.unsaved = {};
      return view;
    },
    async reload() {
      if (this.view) this.view = await this.enqueue(() => ipc.record(this.view!.record.id));
    },
    /** What a person typed into a field; returns whether it was saved. */
    async input(input: FieldInput): Promise<boolean> {
      const id = this.id;
      if (!id) return false;
      const slot = slotOf(input);
      try {
        const view = await this.enqueueLatest(slot, () => ipc.inputField(id, input));
        delete this.unsaved[slot];
        this.accept(view);
        return true;
      } catch (error) {
        const e = error as IpcError;
        if (e.code === 'bad_input') {
          this.unsaved[slot] = e;
        } else {
          this.error = e;
        }
        return false;
      }
    },
    /** Runs a change of the open record (through the queue; with `slot`, a newer change of
     * the same slot replaces a waiting one) and takes the record Rust returns. */
    async change(run: (id: string) => Promise<RecordView>, slot?: string): Promise<boolean> {
      const id = this.id;
      if (!id) return false;
      try {
        this.accept(await (slot ? this.enqueueLatest(slot, () => run(id)) : this.enqueue(() => run(id))));
        this.error = null;
        return true;
      } catch (error) {
        this.error = error as IpcError;
        return false;
      }
    },
    edit(edits: Edit[]): Promise<boolean> {
      return this.change((id) => ipc.editRecord(id, edits));
    },
    /** Replaces the narrative (Rust applies the difference as character splices). */
    setNarrative(text: string): Promise<boolean> {
      return this.change((id) => ipc.editRecord(id, [{ op: 'narrative', text }]), 'narrative');
    },
    setCaption(sha256: string, caption: string): Promise<boolean> {
      return this.change((id) => ipc.editRecord(id, [{ op: 'set_attachment_caption', sha256, caption }]), `caption:${sha256}`);
    },
    async addItem(list: ItemList) {
      const itemId = await ipc.newItemId();
      const ok = await this.edit([{ op: 'insert_item', list, id: itemId, values: [] }]);
      return ok ? itemId : null;
    },
    settle(path: FieldPath, change: string): Promise<boolean> {
      return this.change((id) => ipc.settleConflict(id, path, change));
    },
    attach(input: Omit<AttachmentInput, 'record'>, bytes: Uint8Array): Promise<boolean> {
      return this.change((id) => ipc.addAttachment({ ...input, record: id }, bytes));
    },
    /** Moves the record to a township or village picked by name (its code); Rust fills
     * the village's township, and the round and team where the record has none. */
    place(code: string): Promise<boolean> {
      return this.change((id) => ipc.placeRecord(id, code));
    },
    /** Adds the households picked from the village roster, in one change. */
    addFromRoster(keys: RosterKey[]): Promise<boolean> {
      return this.change((id) => ipc.addFromRoster(id, keys));
    },
    /** Takes the open record one step along the 巡察 workflow (提交, 审核, 审签, 退回补充,
     * 巡察办审核, 移交, 整改, 销号, 了结). Rust decides who may, in which capacity, and
     * what the step needs; a refusal (who may take it) is kept in `error`. */
    async transition(input: TransitionInput): Promise<boolean> {
      const ok = await this.change((id) => ipc.transitionRecord(id, input));
      if (!ok && input.to === 'submitted' && (this.error?.code === 'not_ready' || this.error?.cause === 'not_ready')) {
        this.attention += 1;
      }
      return ok;
    },
    /** Withdraws the open draft; Rust refuses it for a record that is no longer a draft. */
    withdraw(): Promise<boolean> {
      return this.change((id) => ipc.withdrawRecord(id));
    },
    setInformant(field: InformantField, text: string): Promise<boolean> {
      return this.change((id) => ipc.setInformant(id, [[field, text]]), `informant:${field}`);
    },
  },
});
