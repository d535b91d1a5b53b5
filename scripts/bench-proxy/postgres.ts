// The benchmark's PostgreSQL: the tests' harness (a cluster of its own on a temp folder and a free loopback port).
export { startPostgres } from '../../packages/key-proxy/test/harness/postgres.ts'
