// Figures for the 巡察办's report: money in 万元, rates in percent, the days of a
// rectification's light. Integer arithmetic only: money arrives in fen, rates in hundredths
// of a percent.

const group = (digits: string) => digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');

/** Fen (an integer) to 万元 with two decimals, rounded half away from zero:
 * 3,600,000,000 fen (36,000,000 yuan) → "3,600.00". */
export function wanFromFen(fen: number | bigint | null | undefined): string {
  if (fen == null) return '—';
  const value = BigInt(typeof fen === 'bigint' ? fen : Math.trunc(Number(fen)));
  const negative = value < 0n;
  const abs = negative ? -value : value;
  // Hundredths of 万元 are units of 10,000 fen (100 yuan).
  const hundredths = (abs + 5000n) / 10000n;
  const whole = group((hundredths / 100n).toString());
  const cents = (hundredths % 100n).toString().padStart(2, '0');
  return `${negative && hundredths > 0n ? '-' : ''}${whole}.${cents}`;
}

/** Hundredths of a percent to a percentage without the sign: 6667 → "66.67", 10000 → "100", 5000 → "50". */
export function percentFromBp(bp: number | null | undefined): string {
  if (bp == null) return '—';
  const value = Math.trunc(Number(bp));
  const abs = Math.abs(value);
  const whole = Math.floor(abs / 100);
  const rest = abs % 100;
  const text = rest === 0 ? String(whole) : `${whole}.${String(rest).padStart(2, '0').replace(/0$/, '')}`;
  return `${value < 0 ? '-' : ''}${text}`;
}

/** A count grouped for reading: 1780 → "1,780". */
export function countText(n: number | null | undefined): string {
  return group(String(Math.trunc(Number(n ?? 0))));
}

/** Whether `text` is a day as the filters take it (`YYYY-MM-DD`, a real date). */
export function isDay(text: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!m) return false;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return d.getUTCFullYear() === Number(m[1]) && d.getUTCMonth() === Number(m[2]) - 1 && d.getUTCDate() === Number(m[3]);
}
