/**
 * HTTPS for the Node server: the certificate chain and private key are PEM files named in the configuration
 * (`tls: { certFile, keyFile }`), read at start and again on SIGHUP. A reload swaps the server's secure context:
 * connections already open keep theirs and are not dropped, new handshakes get the new certificate. A reload
 * that fails (a missing file, a key that does not match the certificate) keeps the old context and says why.
 * @module
 */

import { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { Server as HttpsServer } from 'node:https'
import { createSecureContext } from 'node:tls'
import { ConfigError } from '../errors.ts'

export interface TlsFiles {
  /** PEM certificate chain, the server's certificate first. */
  readonly certFile: string
  /** PEM private key of that certificate (not encrypted). */
  readonly keyFile: string
}

export interface TlsMaterial {
  readonly cert: Buffer
  readonly key: Buffer
  /** SHA-256 fingerprint of the server certificate (for logs: which certificate is served). */
  readonly fingerprint: string
  /** The certificate's end of validity, as it says. */
  readonly validTo: string
}

/**
 * Reads and checks the certificate and key: both parse, the key is the certificate's.
 * @throws {ConfigError} naming the file or the mismatch.
 */
export function readTls(files: TlsFiles): TlsMaterial {
  const read = (path: string, what: string) => {
    try {
      return readFileSync(path)
    } catch (err) {
      throw new ConfigError(`cannot read the TLS ${what} file ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`)
    }
  }
  const cert = read(files.certFile, 'certificate')
  const key = read(files.keyFile, 'key')
  let x509: X509Certificate
  try {
    x509 = new X509Certificate(cert)
  } catch {
    throw new ConfigError(`the TLS certificate file ${files.certFile} holds no PEM certificate`)
  }
  try {
    createSecureContext({ cert, key }) // fails when the key is unreadable or not the certificate's
  } catch (err) {
    // OpenSSL's reason only (e.g. "key values mismatch"): never the key's bytes.
    const reason = String((err as { reason?: string }).reason ?? (err as Error).message).slice(0, 120)
    throw new ConfigError(`the TLS key file ${files.keyFile} does not go with ${files.certFile}: ${reason}`)
  }
  return { cert, key, fingerprint: x509.fingerprint256, validTo: x509.validTo }
}

/**
 * Reads the files again and swaps the server's context; returns the new material.
 * @throws {ConfigError} as {@link readTls}; the server keeps serving its old certificate then.
 */
export function reloadTls(server: HttpsServer, files: TlsFiles): TlsMaterial {
  const material = readTls(files)
  server.setSecureContext({ cert: material.cert, key: material.key })
  return material
}
