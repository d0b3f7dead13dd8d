// The record schema from Rust: fields, lists, vocabularies and the review workflow.
import { defineStore } from 'pinia';
import { ipc } from '../ipc';
import type { Schema } from '../bindings/Schema';
import type { RecordKind } from '../bindings/RecordKind';
import type { Vocabulary } from '../bindings/Vocabulary';
import type { ReviewStatus } from '../bindings/ReviewStatus';
import type { FieldInfo } from '../bindings/FieldInfo';
import type { ListInfo } from '../bindings/ListInfo';
import type { ChoiceInfo } from '../bindings/ChoiceInfo';

/** The common fields every kind has, shown under "basics". */
export const BASIC_FIELDS = ['title', 'round', 'township', 'village', 'team'] as const;

export const useSchema = defineStore('schema', {
  state: () => ({ schema: null as Schema | null }),
  getters: {
    kinds: (s) => s.schema?.kinds ?? [],
    statuses: (s) => s.schema?.statuses ?? [],
  },
  actions: {
    async load() {
      if (!this.schema) this.schema = await ipc.schema();
    },
    /** The fields specific to `kind` (not the common ones, nor the GPS point). */
    kindFields(kind: RecordKind): FieldInfo[] {
      return (this.schema?.fields ?? []).filter((f) => f.kinds.includes(kind));
    },
    basicFields(): FieldInfo[] {
      return (this.schema?.fields ?? []).filter((f) => (BASIC_FIELDS as readonly string[]).includes(f.field));
    },
    field(field: string): FieldInfo | undefined {
      return this.schema?.fields.find((f) => f.field === field || f.key === field);
    },
    lists(kind: RecordKind): ListInfo[] {
      return (this.schema?.lists ?? []).filter((l) => l.kind === kind);
    },
    choices(vocabulary: Vocabulary): ChoiceInfo[] {
      return this.schema?.vocabularies.find((v) => v.vocabulary === vocabulary)?.choices ?? [];
    },
    kind(kind: string) {
      return this.schema?.kinds.find((k) => k.kind === kind);
    },
    status(status: string) {
      return this.schema?.statuses.find((s) => s.status === status);
    },
    statusLabel(status: ReviewStatus | string, en = false): string {
      const info = this.schema?.statuses.find((s) => s.status === status);
      return info ? (en ? info.en : info.zh) : status;
    },
    /** The label of a stored path: `allocated`, `beneficiaries/<id>/received`, `review/status`. */
    pathLabel(path: string, en = false): string {
      const parts = path.split('/');
      const pick = (x: { zh: string; en: string }) => (en ? x.en : x.zh);
      if (parts.length === 3) {
        const list = this.schema?.lists.find((l) => l.key === parts[0]);
        const field = list?.fields.find((f) => f.key === parts[2]);
        if (list && field) return `${pick(list)}·${pick(field)}`;
        if (list) return pick(list);
      }
      const list = this.schema?.lists.find((l) => l.key === parts[0]);
      if (list) return pick(list);
      const field = this.schema?.fields.find((f) => f.key === parts[0]);
      if (field) return pick(field);
      const fixed: Record<string, [string, string]> = {
        narrative: ['情况描述', 'Narrative'],
        tags: ['标签', 'Tags'],
        issues: ['问题类型', 'Issue types'],
        attachments: ['附件', 'Attachments'],
        review: ['审核', 'Review'],
        kind: ['类型', 'Kind'],
        id: ['编号', 'Id'],
        created_at: ['创建时间', 'Created'],
        creator: ['创建人', 'Creator'],
        schema: ['格式版本', 'Schema version'],
      };
      const known = fixed[parts[0]];
      return known ? (en ? known[1] : known[0]) : path;
    },
  },
});
