/**
 * The key proxy's base URLs: one, or several instances of one deployment to fail over between. A request goes
 * to the URL that answered last; on a connection failure, a timeout, a 5xx or a 429 the next attempt goes to
 * the next URL at once (no wait while some URL has not been tried for this request), within the request's
 * bounded retries.
 *
 * Plain `http://` is refused except to a loopback host (127.0.0.0/8, `[::1]`, `localhost`): a DEK travels
 * wrapped, but the credentials and the metadata do not. `allowInsecureHttp: true` lifts that (a proxy behind
 * a TLS-terminating sidecar on a private network).
 * @module
 */
import { KeyProxyError } from './errors.ts'

function isLoopback(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase()
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)
}

/**
 * Checks and normalizes the base URLs (no trailing slash).
 * @throws {KeyProxyError} `ERR_PROXY_URL` when a URL does not parse or is not http(s), or when plain HTTP goes
 * beyond loopback without `allowInsecureHttp`.
 */
export function checkBaseUrls(value: string | readonly string[], allowInsecureHttp = false): string[] {
  const list = typeof value === 'string' ? [value] : [...value]
  if (list.length === 0) throw new KeyProxyError('ERR_PROXY_URL', 'no key proxy base URL given')
  return list.map((text) => {
    let url: URL
    try {
      // A relative URL (a same-origin proxy) resolves against the page's location.
      url = new URL(text, (globalThis as { location?: { href: string } }).location?.href)
    } catch {
      throw new KeyProxyError(
        'ERR_PROXY_URL',
        `key proxy base URL ${JSON.stringify(text.slice(0, 200))} does not parse`,
      )
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new KeyProxyError('ERR_PROXY_URL', `key proxy base URL must be https: (it is ${url.protocol})`)
    }
    if (url.protocol === 'http:' && !allowInsecureHttp && !isLoopback(url.hostname)) {
      throw new KeyProxyError(
        'ERR_PROXY_URL',
        `plain HTTP to ${url.host} is refused: use https://, or allowInsecureHttp: true where TLS ends in front of the proxy`,
      )
    }
    if (url.search || url.hash) throw new KeyProxyError('ERR_PROXY_URL', 'key proxy base URL has a query or fragment')
    return url.href.replace(/\/+$/, '')
  })
}

/** The URL to use next; `failed()` after a failure moves on. Shared by the client's requests. */
export class BaseUrls {
  private readonly urls: readonly string[]
  private current = 0

  constructor(urls: readonly string[]) {
    this.urls = urls
  }

  get size(): number {
    return this.urls.length
  }

  /** The URL that answered last (or the first). */
  start(): number {
    return this.current
  }

  at(index: number): string {
    return this.urls[index % this.urls.length]!
  }

  /** After `index` failed: the index to try next (and, for the next requests, the one to start from). */
  failed(index: number): number {
    const next = (index + 1) % this.urls.length
    if (this.current === index % this.urls.length) this.current = next
    return next
  }

  /** `index` answered: later requests start there. */
  answered(index: number): void {
    this.current = index % this.urls.length
  }
}
