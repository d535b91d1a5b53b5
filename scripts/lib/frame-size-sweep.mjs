// The frame-size sweep: our encryptStream and decryptStream at each frame size, each against a baseline in
// alternating rounds (the median of the rounds' ratios), to choose the default frame size from measurements in
// every runtime. Used by `npm run bench -- --sweep` (Node, Bun; node:crypto's one-shot 1 MiB as the baseline), by
// `npm run bench -- --sweep --runtime deno` (this file run by Deno; WebCrypto one-shot 1 MiB as the baseline) and
// by the browser bench page (WebCrypto one-shot 1 MiB).
export const SWEEP_FRAME_SIZES = [16, 32, 64, 128, 256, 512, 1024, 4096].map((k) => k * 1024)
const MiB = 2 ** 20

/** Sequential one-shot WebCrypto AES-256-GCM over 1 MiB chunks: MB/s (the baseline where node:crypto is not used). */
export async function webCryptoBaseline() {
  const key = await crypto.subtle.importKey('raw', new Uint8Array(32).fill(5), 'AES-GCM', false, ['encrypt', 'decrypt'])
  const chunk = new Uint8Array(MiB).fill(1)
  const iv = new Uint8Array(12)
  const ct = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, key, chunk))
  const run = (op, data) => async (total) => {
    const t = performance.now()
    for (let i = 0; i < total / MiB; i++) await crypto.subtle[op]({ name: 'AES-GCM', iv }, key, data)
    return total / 1e6 / ((performance.now() - t) / 1000)
  }
  return { encrypt: run('encrypt', chunk), decrypt: run('decrypt', ct) }
}

export async function frameSizeSweep({
  core,
  baseline,
  totalBytes,
  rounds = 5,
  warmup = 1,
  sizes = SWEEP_FRAME_SIZES,
  log = () => {},
  gc = () => {},
  gcEachRound = false,
}) {
  const provider = await core.createLocalKeyProvider({ kek: new Uint8Array(32).fill(9), keyId: 'sweep' })
  const chunk = new Uint8Array(MiB)
  for (let i = 0; i < MiB; i++) chunk[i] = (i * 2654435761) >>> 24
  const source = (total) => {
    let sent = 0
    return new ReadableStream({
      pull(c) {
        if (sent >= total) return c.close()
        c.enqueue(chunk)
        sent += MiB
      },
    })
  }
  const drain = async (stream, keep) => {
    const reader = stream.getReader()
    const parts = []
    let n = 0
    for (;;) {
      const { done, value } = await reader.read()
      if (done) return { n, parts }
      n += value.length
      if (keep) parts.push(value)
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  // A collected heap per case, not per round: a full GC with no stream alive makes V8 drop the optimised stream
  // code, and each round would then measure it recompiling (scripts/bench.mjs, docs/benchmarks.md).
  async function sideBySide(ours, base) {
    gc()
    for (let i = 0; i < warmup; i++) {
      await ours(totalBytes)
      await base(totalBytes)
    }
    const o = []
    const r = []
    for (let i = 0; i < rounds; i++) {
      if (gcEachRound) gc()
      const x = await ours(totalBytes)
      if (gcEachRound) gc()
      const y = await base(totalBytes)
      o.push(x)
      r.push(x / y)
    }
    return { mbps: median(o), ratio: median(r) }
  }
  const rows = []
  for (const frameSize of sizes) {
    const encrypt = async (total) => {
      const t = performance.now()
      const { n } = await drain(source(total).pipeThrough(core.encryptStream({ provider, frameSize })))
      if (n < total) throw new Error('short ciphertext')
      return total / 1e6 / ((performance.now() - t) / 1000)
    }
    let parts = (await drain(source(totalBytes).pipeThrough(core.encryptStream({ provider, frameSize })), true)).parts
    const decrypt = async (total) => {
      let i = 0
      const src = new ReadableStream({
        pull(c) {
          if (i >= parts.length) return c.close()
          c.enqueue(parts[i++])
        },
      })
      const t = performance.now()
      const { n } = await drain(src.pipeThrough(core.decryptStream({ provider })))
      if (n !== total) throw new Error(`decrypted ${n} of ${total} bytes`)
      return total / 1e6 / ((performance.now() - t) / 1000)
    }
    const d = await sideBySide(decrypt, baseline.decrypt)
    parts = undefined
    const e = await sideBySide(encrypt, baseline.encrypt)
    const row = {
      frame_kib: frameSize / 1024,
      encrypt_mb_s: Math.round(e.mbps),
      encrypt_vs_baseline: Number(e.ratio.toFixed(3)),
      decrypt_mb_s: Math.round(d.mbps),
      decrypt_vs_baseline: Number(d.ratio.toFixed(3)),
    }
    log(
      `  frame ${row.frame_kib} KiB: encrypt ${row.encrypt_mb_s} MB/s (${row.encrypt_vs_baseline}), decrypt ${row.decrypt_mb_s} MB/s (${row.decrypt_vs_baseline})`,
    )
    rows.push(row)
  }
  return rows
}

export function sweepTable(rows, label) {
  const lines = [
    `| frame | encrypt MB/s | vs baseline | decrypt MB/s | vs baseline |  (${label})`,
    '|---|---|---|---|---|',
  ]
  for (const r of rows)
    lines.push(
      `| ${r.frame_kib} KiB | ${r.encrypt_mb_s} | ${r.encrypt_vs_baseline} | ${r.decrypt_mb_s} | ${r.decrypt_vs_baseline} |`,
    )
  return lines.join('\n')
}

// Run by Deno (`npm run bench -- --sweep --runtime deno` starts it, after building dist/bench/core.mjs).
if (globalThis.Deno && import.meta.main) {
  const json = Deno.args.includes('--json')
  const quick = Deno.args.includes('--quick')
  const core = await import(new URL('../../dist/bench/core.mjs', import.meta.url).href)
  const rows = await frameSizeSweep({
    core,
    baseline: await webCryptoBaseline(),
    totalBytes: (quick ? 32 : 128) * MiB,
    rounds: quick ? 2 : 5,
    log: (...a) => console.error(...a),
  })
  const label = `deno ${Deno.version.deno}, frame cipher ${core.frameCipher().name}, baseline WebCrypto one-shot 1 MiB`
  console.log(
    json
      ? JSON.stringify({ runtime: `deno ${Deno.version.deno}`, baseline: 'webcrypto one-shot 1 MiB', rows }, null, 2)
      : sweepTable(rows, label),
  )
}
