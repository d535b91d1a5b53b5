// How the page writes sizes, counts and dates: binary units a person reads at a glance ("24 B", "1.5 KiB",
// "200 MiB"), never "0.00 MiB" for a few bytes.
const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'] as const

/** `24` → "24 B", `1536` → "1.5 KiB", `200 * 2 ** 20` → "200 MiB": one decimal below 100 units, none above. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '? B'
  let unit = 0
  let value = bytes
  // Round first, so 1023.96 KiB becomes "1 MiB", not "1024 KiB".
  while (unit < UNITS.length - 1 && Number(value.toFixed(value < 100 ? 1 : 0)) >= 1024) {
    value /= 1024
    unit++
  }
  if (unit === 0) return `${bytes} B`
  return `${Number(value.toFixed(value < 100 ? 1 : 0))} ${UNITS[unit]}`
}

/** `count(1, 'file')` → "1 file", `count(3, 'file')` → "3 files", `count(0, 'file')` → "no files". */
export const count = (n: number, noun: string) => (n === 0 ? `no ${noun}s` : `${n} ${noun}${n === 1 ? '' : 's'}`)

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' })

/** A `<time>` element for an ISO date: readable text, the exact instant in `datetime`. */
export function timeElement(iso: string): HTMLTimeElement {
  const time = document.createElement('time')
  time.dateTime = iso
  const date = new Date(iso)
  time.textContent = Number.isNaN(date.getTime()) ? 'an unknown date' : dateFormat.format(date)
  return time
}
