import { describe, expect, test } from 'vitest'
import { count, formatBytes } from '../src/format.ts'

describe('formatBytes', () => {
  test.each([
    [0, '0 B'],
    [24, '24 B'],
    [1023, '1023 B'],
    [1024, '1 KiB'],
    [1536, '1.5 KiB'],
    [300_000, '293 KiB'],
    [1024 * 1024 - 1, '1 MiB'], // rounds up into the next unit, never "1024 KiB"
    [8.5 * 2 ** 20, '8.5 MiB'],
    [200 * 2 ** 20, '200 MiB'],
    [2 ** 31, '2 GiB'],
    [1.25 * 2 ** 30, '1.3 GiB'],
  ])('%d bytes → %s', (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text)
  })

  test('nonsense is said to be unknown, not printed as NaN', () => {
    expect(formatBytes(Number.NaN)).toBe('? B')
    expect(formatBytes(-1)).toBe('? B')
  })
})

test('count', () => {
  expect([count(0, 'file'), count(1, 'file'), count(2, 'file')]).toEqual(['no files', '1 file', '2 files'])
})
