// Bytes received from a stream, kept as the chunks they arrived in (no re-concatenation per chunk), from
// which whole frames are taken, as views where the cipher takes parts. Memory stays bounded by one frame plus
// one incoming chunk.
export class ChunkQueue {
  private chunks: Uint8Array[] = []
  private head = 0 // bytes already consumed from chunks[0]
  length = 0

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return
    this.chunks.push(chunk)
    this.length += chunk.length
  }

  /** A copy of the first `n` bytes, without consuming them (n ≤ length). */
  peek(n: number): Uint8Array {
    const out = new Uint8Array(n)
    let filled = 0
    let skip = this.head
    for (const c of this.chunks) {
      if (filled === n) break
      const part = c.subarray(skip, skip + (n - filled))
      out.set(part, filled)
      filled += part.length
      skip = 0
    }
    return out
  }

  /** Removes and returns the first `n` bytes (n ≤ length) as views of the chunks they sit in, in order. */
  takeParts(n: number): Uint8Array[] {
    const parts: Uint8Array[] = []
    let skip = this.head
    for (let i = 0, left = n; left > 0; i++) {
      const c = this.chunks[i]!
      const part = c.subarray(skip, skip + left)
      parts.push(part)
      left -= part.length
      skip = 0
    }
    this.skip(n)
    return parts
  }

  /** Removes and returns the first `n` bytes (n ≤ length): a view when they sit in one chunk, else a copy. */
  take(n: number): Uint8Array {
    const first = this.chunks[0]
    let out: Uint8Array
    if (first && first.length - this.head >= n) {
      out = first.subarray(this.head, this.head + n)
    } else {
      out = this.peek(n)
    }
    this.skip(n)
    return out
  }

  skip(n: number): void {
    this.length -= n
    while (n > 0) {
      const c = this.chunks[0]!
      const available = c.length - this.head
      if (available > n) {
        this.head += n
        return
      }
      n -= available
      this.chunks.shift()
      this.head = 0
    }
  }
}
