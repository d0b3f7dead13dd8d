// Validation problems from Rust, looked up by the path of the field they concern.
import type { Problem } from '../bindings/Problem';

/** Problems whose path is exactly `path` (e.g. `allocated`, `beneficiaries/<id>/received`). */
export function problemsAt(problems: Problem[], path: string): Problem[] {
  return problems.filter((p) => p.path === path);
}

/** The message of the first problem at `path`, in the UI's language; '' when none. */
export function problemText(problems: Problem[], path: string, locale: string): string {
  const found = problemsAt(problems, path)[0];
  if (!found) return '';
  return locale === 'en' ? found.en : found.zh;
}
