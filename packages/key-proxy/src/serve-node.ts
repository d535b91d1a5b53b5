// Node entry: `npm run proxy` (after a build: Node 20 cannot run TypeScript).
import { serve } from '@hono/node-server'
import { startup } from './startup.ts'

startup(process.argv, process.env)
  .then(({ app, config, where }) => {
    const server = serve({ fetch: app.fetch, hostname: config.host, port: config.port }, (info) => {
      console.log(`envelope key proxy listening on http://${config.host}:${info.port}`)
      console.log(where)
    })
    const stop = () => server.close(() => process.exit(0))
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
  })
  .catch((err) => {
    console.error(`key proxy did not start: ${err?.code ? `${err.code}: ` : ''}${err?.message ?? err}`)
    process.exit(1)
  })
