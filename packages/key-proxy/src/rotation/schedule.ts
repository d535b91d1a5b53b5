/**
 * A key's rotation schedule and history, as its KMS entry holds them (records.ts: `rotation`, `rotations`):
 * pure functions over the record, so every change is one atomic keystore update.
 *
 * A period is 1 to 3,650 days (AWS KMS: 90 to 2,560; OpenBao: at least an hour); off by default. The next
 * rotation is due `periodDays` after `since`: the last rotation, or when the schedule was set.
 * @module
 */
import { ProxyError } from '../errors.ts'
import { type KmsEntryRecord, MAX_ROTATION_HISTORY, type RotationEvent } from '../keystore/records.ts'

/** Shortest and longest rotation periods accepted, in days. */
export const MIN_ROTATION_DAYS = 1
export const MAX_ROTATION_DAYS = 3650
const DAY = 86_400_000

/**
 * Checks a rotation period from a request: a whole number of days in bounds, or `null` (off).
 *
 * @example
 * ```ts
 * checkPeriod(365) // 365
 * checkPeriod(null) // null: off
 * ```
 * @throws {ProxyError} `ERR_BAD_REQUEST` for anything else
 */
export function checkPeriod(value: unknown): number | null {
  if (value === null) return null
  if (!Number.isInteger(value) || (value as number) < MIN_ROTATION_DAYS || (value as number) > MAX_ROTATION_DAYS) {
    throw new ProxyError(
      'ERR_BAD_REQUEST',
      `"periodDays" must be a whole number of days from ${MIN_ROTATION_DAYS} to ${MAX_ROTATION_DAYS}, or null (off)`,
    )
  }
  return value as number
}

/** When the entry's next scheduled rotation is due (ms since the epoch), or undefined when it has no schedule. */
export function nextRotation(entry: KmsEntryRecord): number | undefined {
  if (!entry.rotation) return undefined
  return Date.parse(entry.rotation.since) + entry.rotation.periodDays * DAY
}

/** The entry with its schedule set (counted from `now`) or removed. */
export function withSchedule(entry: KmsEntryRecord, periodDays: number | null, now: number): KmsEntryRecord {
  if (periodDays === null) {
    const { rotation: _, ...rest } = entry
    return rest
  }
  return { ...entry, rotation: { periodDays, since: new Date(now).toISOString() } }
}

/** The entry after a rotation: the event in its history (bounded), its schedule counted from now. */
export function withRotation(entry: KmsEntryRecord, event: RotationEvent): KmsEntryRecord {
  const rotations = [...(entry.rotations ?? []), event].slice(-MAX_ROTATION_HISTORY)
  return {
    ...entry,
    rotations,
    ...(entry.rotation ? { rotation: { ...entry.rotation, since: event.time } } : {}),
  }
}
