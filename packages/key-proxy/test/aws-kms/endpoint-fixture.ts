// Starts the AWS-KMS-compatible endpoint for real, in this process, on a free loopback port and a temporary data
// folder, with two access keys: the customer's administrator (its console / CLI) and the proxy's. The SDK always
// goes over real HTTP to it.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { KMSClient, type KMSClientConfig } from '@aws-sdk/client-kms'
import {
  type AwsKmsEndpoint,
  type AwsKmsEndpointOptions,
  startAwsKmsEndpoint,
} from '../../src/aws-kms-endpoint/server.ts'

export const ADMIN = {
  accessKeyId: 'AKIAADMINEXAMPLE0001',
  secretAccessKey: 'admin-secret-0000000000000000000000000000',
}
export const PROXY = {
  accessKeyId: 'AKIAPROXYEXAMPLE0001',
  secretAccessKey: 'proxy-secret-0000000000000000000000000000',
}
export const PROXY_ROLE = 'arn:aws:iam::111122223333:role/envelope-proxy'

export interface EndpointFixture {
  readonly endpoint: AwsKmsEndpoint
  readonly dataDir: string
  /** The customer's own SDK client (administrator credentials). */
  readonly customer: KMSClient
  /** An SDK client with other credentials or settings. */
  client(config?: Partial<KMSClientConfig>): KMSClient
  close(): Promise<void>
}

export async function startEndpoint(options: Partial<AwsKmsEndpointOptions> = {}): Promise<EndpointFixture> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'envelope-aws-kms-'))
  const endpoint = await startAwsKmsEndpoint({
    accessKeys: [ADMIN, PROXY],
    roles: [{ arn: PROXY_ROLE, externalId: 'tenant-acme', trustedAccessKeyIds: [PROXY.accessKeyId] }],
    ...options,
    dataDir,
  })
  const clients: KMSClient[] = []
  const client = (config: Partial<KMSClientConfig> = {}) => {
    const c = new KMSClient({ endpoint: endpoint.url, region: endpoint.region, credentials: ADMIN, ...config })
    clients.push(c)
    return c
  }
  return {
    endpoint,
    dataDir,
    customer: client(),
    client,
    async close() {
      for (const c of clients) c.destroy()
      await endpoint.close()
    },
  }
}

/** The name, HTTP status and message of what an SDK call threw ('resolved' when it did not). */
export async function awsError(p: Promise<unknown>): Promise<{ name: string; status?: number; message: string }> {
  try {
    await p
    return { name: 'resolved', message: '' }
  } catch (err) {
    const e = err as { name: string; message: string; $metadata?: { httpStatusCode?: number } }
    return { name: e.name, status: e.$metadata?.httpStatusCode, message: e.message }
  }
}

/** The ProxyError code a promise rejected with ('resolved' when it did not). */
export const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => 'resolved',
    (e) => (e as { code?: string }).code ?? `untyped: ${String(e)}`,
  )

/**
 * A request signed (SigV4, as the SDK would) with a body the SDK would never send: for hostile-input tests. The
 * signature comes from the endpoint's own signer, checked against AWS's example and the SDK in sigv4.node.test.ts.
 */
export async function signedFetch(
  endpoint: AwsKmsEndpoint,
  target: string | undefined,
  body: string,
  credentials = ADMIN,
): Promise<{ status: number; type?: string; message?: string }> {
  const { sigV4Signature, formatAmzDate } = await import('../../src/aws-kms-endpoint/sigv4.ts')
  const amzDate = formatAmzDate(Date.now())
  const url = new URL(endpoint.url)
  const headers: Record<string, string> = {
    host: url.host,
    'x-amz-date': amzDate,
    'content-type': 'application/x-amz-json-1.1',
    ...(target ? { 'x-amz-target': target } : {}),
  }
  const claim = {
    accessKeyId: credentials.accessKeyId,
    date: amzDate.slice(0, 8),
    region: endpoint.region,
    service: 'kms',
    signedHeaders: Object.keys(headers).sort(),
    signature: '',
    amzDate,
  }
  const request = { method: 'POST', path: '/', query: '', headers, body: new TextEncoder().encode(body) }
  const signature = sigV4Signature(request, claim, credentials.secretAccessKey)
  const authorization = `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${claim.date}/${endpoint.region}/kms/aws4_request, SignedHeaders=${claim.signedHeaders.join(';')}, Signature=${signature}`
  const res = await fetch(endpoint.url, { method: 'POST', headers: { ...headers, authorization }, body })
  const text = await res.text()
  let json: { __type?: string; message?: string } = {}
  try {
    json = JSON.parse(text)
  } catch {}
  return { status: res.status, type: json.__type, message: json.message }
}
