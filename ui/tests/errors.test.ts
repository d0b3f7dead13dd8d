// Every error code Rust can send has its own text in each language, and an error on screen
// is only ever that text: Chinese with no English in it, English with no Chinese, never
// Rust's bilingual message.
import { describe, it, expect, afterEach } from 'vitest';
import { i18n, type Locale } from '../src/i18n';
import { errorText } from '../src/lib/errors';
import { IpcError } from '../src/ipc';
import { ERROR_CODES } from '../src/bindings/ErrorCodes';
import type { ErrorCode } from '../src/bindings/ErrorCode';
import type { ErrorParams } from '../src/bindings/ErrorParams';
import zh from '../src/i18n/zh-CN';
import en from '../src/i18n/en';

const LOCALES: Locale[] = ['zh-CN', 'en'];
/** Every detail an error may carry, so each text is checked as it reads with them. */
const PARAMS: ErrorParams = { who: { first: 'deputy', or: 'lead' }, limit_mb: 50, count: 3, user: 'wang' };
/** Rust's message: it must never reach the screen. */
const MESSAGE = '锈的原话 / RUST-MESSAGE';
/** Letters a Chinese text may hold: the names people use for these in Chinese too. */
const ACRONYMS = /\b(PIN|PDF|MB)\b/g;
const CJK = /[\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]/;

function shown(code: ErrorCode, locale: Locale, asCause: boolean): string {
  i18n.global.locale.value = locale;
  const error = asCause
    ? new IpcError({ code: 'bad_input', cause: code, params: PARAMS, message: MESSAGE })
    : new IpcError({ code, cause: null, params: PARAMS, message: MESSAGE });
  return errorText(error, i18n.global.t);
}

/** What is wrong with a text in a language, if anything (the details it names are data, in
 * no language). */
function mixed(shown: string, locale: Locale): string | null {
  const text = shown.replaceAll(PARAMS.user!, '');
  if (!text.trim()) return 'empty';
  if (text.includes(' / ') || text.includes('/ ')) return 'a bilingual pair';
  if (/[{}]/.test(text)) return 'a placeholder left unfilled';
  if (text.includes('errors.')) return 'a missing key';
  if (locale === 'zh-CN') {
    const letters = text.replace(ACRONYMS, '').match(/[A-Za-z]+/g);
    return letters ? `Latin letters: ${letters.join(' ')}` : null;
  }
  const cjk = text.match(CJK);
  return cjk ? `Chinese: ${cjk[0]}` : null;
}

afterEach(() => {
  i18n.global.locale.value = 'zh-CN';
});

describe('error texts', () => {
  it('exist for every code Rust declares, in both languages', () => {
    expect(ERROR_CODES.length).toBeGreaterThan(100);
    expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length);
    for (const code of ERROR_CODES) {
      expect(zh.errors[code], `zh-CN errors.${code}`).toBeTruthy();
      expect(en.errors[code], `en errors.${code}`).toBeTruthy();
    }
    // No text for a code Rust no longer sends.
    expect(Object.keys(zh.errors).sort()).toEqual([...ERROR_CODES].sort());
  });

  it('are each in one language only, as a code or as a cause, with every detail filled in', () => {
    const wrong: string[] = [];
    for (const code of ERROR_CODES) {
      for (const locale of LOCALES) {
        for (const asCause of [false, true]) {
          const text = shown(code, locale, asCause);
          const why = mixed(text, locale);
          if (why) wrong.push(`${locale} ${code}: ${why}: ${text}`);
          if (text.includes('RUST-MESSAGE') || text.includes('锈的原话')) {
            wrong.push(`${locale} ${code}: shows Rust's message`);
          }
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  it('say the cause when there is one, and who may take a refused step', () => {
    const refused = new IpcError({ code: 'forbidden', cause: 'transition_role', params: { who: { first: 'deputy', or: null } }, message: MESSAGE });
    expect(errorText(refused, i18n.global.t)).toBe('这一步不由您办理，请同步后查看。只有副组长可以办理。');
    i18n.global.locale.value = 'en';
    expect(errorText(refused, i18n.global.t)).toBe('This step is not yours to take; sync and look. Only Deputy team lead can take it.');
    const tooLarge = new IpcError({ code: 'bad_input', cause: 'file_too_large', params: { limit_mb: 50 }, message: MESSAGE });
    expect(errorText(tooLarge, i18n.global.t)).toBe('The file is too large; the limit is 50 MB.');
  });

  it('read as unknown for a code this build has no text for', () => {
    const newer = new IpcError({ code: 'made_up_later' as ErrorCode, message: MESSAGE });
    expect(errorText(newer, i18n.global.t)).toBe(zh.errors.unknown);
  });
});
