// What scripts/soak.mjs bundles: the real client and core, and the tests' PostgreSQL and nginx harnesses.
export { decryptToString, encrypt } from '../../packages/core/src/index.ts'
export { createKeyProxyClient } from '../../packages/fetch-client/src/index.ts'
export { NGINX_UPSTREAM_HOST, startNginx } from '../../packages/key-proxy/test/harness/nginx.ts'
export { startPostgres } from '../../packages/key-proxy/test/harness/postgres.ts'
