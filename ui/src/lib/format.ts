// Formatting shared by every screen: times in China Standard Time, money in yuan.

/** `YYYY-MM-DD HH:mm` in UTC+8, the inspectors' time zone. */
export function formatTime(ms: number | null | undefined): string {
  if (ms == null) return '—';
  const d = new Date(ms + 8 * 3600 * 1000);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
}

/** `HH:mm` in UTC+8. */
export function formatClock(ms: number): string {
  return formatTime(ms).slice(11);
}

/** A past moment as a status line says it, in UTC+8: the time alone today, with the day
 * on an earlier day ("11月26日 14:44" / "26 Nov 14:44"), and the year in an earlier year. */
export function formatSince(ms: number, nowMs: number, locale: string): string {
  const at = formatTime(ms);
  const [date, clock] = at.split(' ');
  const today = formatTime(nowMs).slice(0, 10);
  if (date === today) return clock;
  const [year, month, day] = date.split('-').map(Number);
  const thisYear = Number(today.slice(0, 4)) === year;
  if (locale === 'en') {
    const name = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][month - 1];
    return `${day} ${name}${thisYear ? '' : ` ${year}`} ${clock}`;
  }
  return `${thisYear ? '' : `${year}年`}${month}月${day}日 ${clock}`;
}

/** Fen (integer) to yuan with thousands separators: 3600000000 → "36,000,000.00". */
export function yuanFromFen(fen: number | null | undefined): string {
  if (fen == null) return '—';
  const negative = fen < 0;
  const abs = Math.abs(Math.trunc(fen));
  const whole = Math.floor(abs / 100)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const cents = String(abs % 100).padStart(2, '0');
  return `${negative ? '-' : ''}${whole}.${cents}`;
}

/** Hundredths of a mu to mu: 220000 → "2,200". */
export function muFromCentimu(centimu: number): string {
  const whole = Math.floor(centimu / 100)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const rest = centimu % 100;
  return rest === 0 ? whole : `${whole}.${String(rest).padStart(2, '0')}`;
}

/** Bytes for people: 1536 → "1.5 KB". */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** An amount as Rust sends it ("1234567.80", "-5.00") grouped for reading: "1,234,567.80". */
export function yuanText(yuan: string | null | undefined): string {
  if (yuan == null || yuan.trim() === '') return '—';
  const [whole, cents = ''] = yuan.trim().split('.');
  const negative = whole.startsWith('-');
  const digits = (negative ? whole.slice(1) : whole).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${negative ? '-' : ''}${digits}.${cents.padEnd(2, '0').slice(0, 2)}`;
}
