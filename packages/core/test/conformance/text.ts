// Text in headers is UTF-8 read exactly as written: U+FEFF (a byte-order mark) is an ordinary character wherever
// it appears (docs/format.md §3, §4), and an expected context is compared with the header's own context bytes.
import { assertEqual, assertJsonEqual, assertRejectsCode, suite } from '../../../../tests/harness.ts'
import { decrypt, decryptStream, decryptToString, encrypt, type KeyProvider, readHeader } from '../../src/index.ts'
import { chunked, localProvider, pipeCollect, readAll } from './util.ts'

const BOM = '\uFEFF'

export default suite('core: text in headers', (test) => {
  test('a context key and value starting with U+FEFF round-trip, one-shot and streaming', async () => {
    const provider = await localProvider()
    const context = { doc: BOM, [`${BOM}tenant`]: `${BOM}acme` } // in canonical (byte) order
    const m = await encrypt('with a BOM', { provider, context })
    assertJsonEqual(readHeader(m).context, context)
    assertEqual(await decryptToString(m, { provider, expectedContext: context }), 'with a BOM')
    const ds = decryptStream({ provider, expectedContext: context })
    const out = readAll(chunked(m, 9).pipeThrough(ds))
    assertJsonEqual((await ds.header).context, context)
    assertEqual(new TextDecoder().decode(await out), 'with a BOM')
  })

  test('an EDEK key id and version starting with U+FEFF are kept and open', async () => {
    const provider = await localProvider(7, `${BOM}kek`, `${BOM}2`)
    const m = await encrypt('x', { provider })
    const [edek] = readHeader(m).edeks
    assertJsonEqual([edek!.keyId, edek!.keyVersion], [`${BOM}kek`, `${BOM}2`])
    assertEqual(await decryptToString(m, { provider }), 'x')
    await assertRejectsCode(decrypt(m, { provider: await localProvider(7, 'kek', '2') }), 'ERR_KEY_UNAVAILABLE')
  })

  test('expected context is compared as bytes: {"\\uFEFFtenant":"acme"} is not {tenant:"acme"}', async () => {
    const inner = await localProvider()
    // A writer that binds the EDEK to {tenant: acme} but puts another context in the header.
    const lying: KeyProvider = { ...inner, generateDataKey: () => inner.generateDataKey({ tenant: 'acme' }) }
    const m = await encrypt('x', { provider: lying, context: { [`${BOM}tenant`]: 'acme' } })
    const expectedContext = { tenant: 'acme' }
    await assertRejectsCode(decrypt(m, { provider: inner, expectedContext }), 'ERR_CONTEXT_MISMATCH')
    const { released, error } = await pipeCollect(chunked(m, 16), decryptStream({ provider: inner, expectedContext }))
    assertEqual((error as { code?: string }).code, 'ERR_CONTEXT_MISMATCH')
    assertEqual(released.length, 0)
    // Without an expected context the EDEK, bound to another context, does not unwrap.
    await assertRejectsCode(decrypt(m, { provider: inner }), 'ERR_KEY_UNAVAILABLE')
  })
})
