// Every visible string exists in both languages (zh-CN first, en).
import { describe, it, expect } from 'vitest';
import zh from '../src/i18n/zh-CN';
import en from '../src/i18n/en';

const keys = (messages: object, prefix = ''): string[] =>
  Object.entries(messages).flatMap(([key, value]) =>
    value && typeof value === 'object' ? keys(value, `${prefix}${key}.`) : [`${prefix}${key}`],
  );

describe('the translations', () => {
  it('have the same keys in Chinese and English', () => {
    expect(keys(en).sort()).toEqual(keys(zh).sort());
  });
});
