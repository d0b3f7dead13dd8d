// An error for people: the one place that turns an error code into text. Rust sends a code
// (what kind of failure), a cause (exactly why) and structured details; the text for each
// code is in the locale files (errors.*), so nothing on screen is Rust's own message.
import type { ErrorCode } from '../bindings/ErrorCode';
import type { ErrorParams } from '../bindings/ErrorParams';
import { whoText } from './workflow';

type T = (key: string, values?: Record<string, unknown>) => string;

/** What an error carries that its text may use (an IpcError, an ErrorDto, a refusal). */
export interface ErrorLike {
  code: ErrorCode;
  cause?: ErrorCode | null;
  params?: ErrorParams;
}

/** The text of one code, naming the details it has (a code this build lacks a text for,
 * which Rust never sends, reads as `unknown`). */
export function codeText(code: ErrorCode, t: T, params: ErrorParams = {}): string {
  const values = { limit: params.limit_mb ?? '', count: params.count ?? '', user: params.user ?? '' };
  const key = `errors.${code}`;
  const text = t(key, values);
  return text === key ? t('errors.unknown') : text;
}

/** What went wrong and what to do, in the UI's language: the cause's text (else the
 * code's), and who may take a refused step. */
export function errorText(error: ErrorLike, t: T): string {
  const params = error.params ?? {};
  const text = codeText(error.cause ?? error.code, t, params);
  if (!params.who) return text;
  return t('errorDetail.join', { text, detail: t('errorDetail.who', { who: whoText(params.who, t) }) });
}
