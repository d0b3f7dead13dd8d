// What the UI says about the 巡察 workflow: who takes a step, the last return of a record.
// The rules themselves live in Rust (RecordView.next_steps); nothing here decides.
import type { Record as RecordData } from '../bindings/Record';
import type { Step } from '../bindings/Step';
import type { Who } from '../bindings/Who';

type T = (key: string, values?: Record<string, unknown>) => string;

/** 承办人, 副组长, 组长, 巡察办. */
export function capacityText(capacity: string, t: T): string {
  const key = `review.capacities.${capacity}`;
  const text = t(key);
  return text === key ? capacity : text;
}

/** Who may take a step: "副组长", or "副组长或组长". */
export function whoText(who: Who, t: T): string {
  const first = capacityText(who.first, t);
  return who.or ? t('review.either', { first, or: capacityText(who.or, t) }) : first;
}

/** The step that returned the record (退回补充), while it stands returned. */
export function lastReturn(record: RecordData): Step | null {
  if (record.review.status !== 'returned') return null;
  const steps = record.review.steps ?? [];
  for (let i = steps.length - 1; i >= 0; i--) if (steps[i].to === 'returned') return steps[i];
  return null;
}

/** Today on this device, as YYYY-MM-DD (the default date of a hand-over). */
export function today(now = new Date()): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

export const DATE = /^\d{4}-\d{2}-\d{2}$/;
