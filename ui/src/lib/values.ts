// Between the typed values Rust sends (bindings/Value) and the text in a form field.
import type { Value } from '../bindings/Value';

/** The text a form field shows for a value (what Rust parses back). */
export function valueText(value: Value | undefined | null): string {
  if (value == null) return '';
  if ('text' in value) return value.text;
  if ('money' in value) return value.money;
  if ('area' in value) return value.area;
  if ('date' in value) return value.date;
  if ('choice' in value) return value.choice;
  if ('flag' in value) return value.flag ? 'yes' : 'no';
  if ('division' in value) return `${value.division.code}:${value.division.name}`;
  if ('gps' in value) return `${value.gps.lat.toFixed(6)},${value.gps.lon.toFixed(6)}`;
  return '';
}

/** An item id as Rust writes it in paths and relations (hex, no hyphens): JSON carries item
 * ids hyphenated, paths (`beneficiaries/<id>/received`) and stored references do not. */
export function simpleId(id: string): string {
  return id.replace(/-/g, '').toLowerCase();
}

/** A quick check of what a person typed into a money or area field, before Rust parses
 * it: used only to show the message at once; Rust decides. */
export function looksLikeAmount(text: string): boolean {
  return text.trim() === '' || /^-?\d{1,13}(\.\d{0,2})?$/.test(text.trim().replace(/,/g, ''));
}
