/**
 * The PostgreSQL connection pool of the keystore and of the audit store: a database that stops answering fails
 * requests (2 s to connect, 5 s a query) instead of holding them. Each caller listens for its idle errors.
 * @module
 */
import pg from 'pg'

export function postgresPool(url: string, size = 4): pg.Pool {
  return new pg.Pool({ connectionString: url, max: size, connectionTimeoutMillis: 2000, query_timeout: 5000 })
}
