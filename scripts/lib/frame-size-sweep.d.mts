// Types of frame-size-sweep.mjs, for the browser bench page (TypeScript).
export interface SweepRow {
  frame_kib: number
  encrypt_mb_s: number
  encrypt_vs_baseline: number
  decrypt_mb_s: number
  decrypt_vs_baseline: number
}
type Rate = (total: number) => Promise<number> | number
export const SWEEP_FRAME_SIZES: number[]
export function webCryptoBaseline(): Promise<{ encrypt: Rate; decrypt: Rate }>
export function frameSizeSweep(options: {
  core: unknown
  baseline: { encrypt: Rate; decrypt: Rate }
  totalBytes: number
  rounds?: number
  warmup?: number
  sizes?: number[]
  log?: (...a: unknown[]) => void
  gc?: () => void
  gcEachRound?: boolean
}): Promise<SweepRow[]>
export function sweepTable(rows: SweepRow[], label: string): string
