// The app's messages never tell a person to retry what cannot work.
import { EnvelopeError } from '@envelope/core'
import { expect, test } from 'vitest'
import { explain } from '../src/explain.ts'

const err = (code: string) => new EnvelopeError(code, code)

test('a key scheduled for deletion or shredded: submitting again cannot work, and the message says what would', () => {
  const pending = explain(err('ERR_KEY_PENDING_DELETION'), { doing: 'submit', tenant: 'acme' })
  expect(pending).not.toMatch(/try again/)
  expect(pending).toMatch(/unless its key administrator cancels the deletion/)
  expect(pending).toMatch(/\(ERR_KEY_PENDING_DELETION\)$/)
  expect(explain(err('ERR_KEY_DESTROYED'), { doing: 'submit', tenant: 'acme' })).not.toMatch(/try again/)
})

test('a transient failure keeps the form and says it can be sent again', () => {
  expect(explain(err('ERR_PROXY_UNAVAILABLE'), { doing: 'submit', tenant: 'acme' })).toMatch(/try again/)
})
