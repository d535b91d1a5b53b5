/**
 * The EDEK of a DEK wrapped under a lease key (docs/key-proxy-api.md, "EDEK formats"): a compact JWE
 * (A256GCMKW, A256GCM) under the lease key whose protected header names the entry and the lease
 * (`kid: "<tenant>/<entry>#lease:<lease id>"`), binds the encryption context (`ctx`) and carries, in `lease`,
 * what recovers the lease key with the customer's KMS alone: the provider (`kms`), the CMK (`key`: an AWS key ARN,
 * a PKCS#11 URI, `local:<tenant>/<key>`), the CMK version (`ver`) and the KMS's ciphertext of the lease key
 * (`ct`, base64url). The lease key's wrap context is `{tenant, purpose: "lease", lease: <lease id>}`. So one EDEK
 * and the customer's KMS open the DEK without the proxy or its keystore (as IronCore's leased EDEKs do).
 *
 * EDEK fields: `providerId` the provider's (`envelope-aws-kms`…), `keyId` `<tenant>/<entry>`, `keyVersion`
 * `lease:<lease id>`.
 * @module
 */
import type { Edek } from '@envelope/core'
import { jweHeader } from './jwe-node.ts'

export const LEASE_VERSION_PREFIX = 'lease:'

/** Lease ids: 16 random bytes in base64url (22 characters). */
export const LEASE_ID = /^[A-Za-z0-9_-]{22}$/

/** What a leased EDEK's header carries to recover the lease key. */
export interface LeaseHeader {
  readonly kms: string
  readonly key: string
  readonly ver: string
  readonly ct: string
}

export function newLeaseId(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('base64url')
}

/** The protected header fields (besides alg, enc, iv, tag) of a leased EDEK. */
export function leasedHeader(tenant: string, entry: string, leaseId: string, ctx: string, lease: LeaseHeader) {
  return { kid: `${tenant}/${entry}#${LEASE_VERSION_PREFIX}${leaseId}`, ctx, lease }
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/**
 * A leased EDEK of `tenant/entry`, read (not yet authenticated: the lease key does that); undefined when it is not
 * one.
 */
export function readLeasedEdek(
  edek: Edek,
  tenant: string,
  entry: string,
): { leaseId: string; jwe: string; header: Record<string, unknown>; ctx: string } | undefined {
  const leaseId = edek.keyVersion.slice(LEASE_VERSION_PREFIX.length)
  if (!edek.keyVersion.startsWith(LEASE_VERSION_PREFIX) || !LEASE_ID.test(leaseId)) return undefined
  let jwe: string
  try {
    jwe = utf8.decode(edek.ciphertext)
  } catch {
    return undefined
  }
  const header = jweHeader(jwe)
  if (!header || header.kid !== `${tenant}/${entry}#${edek.keyVersion}` || typeof header.ctx !== 'string') {
    return undefined
  }
  return { leaseId, jwe, header, ctx: header.ctx }
}
