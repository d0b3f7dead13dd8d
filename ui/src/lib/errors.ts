// An error for people: a translation for the codes the UI knows, else Rust's message
// (which already says, in Chinese and English, what to do).
import type { IpcError } from '../ipc';

export function errorText(error: IpcError, t: (key: string) => string): string {
  const key = `errors.${error.code}`;
  const known = t(key);
  return known !== key ? known : error.message;
}
