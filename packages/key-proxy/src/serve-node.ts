// Node entry: `npm run proxy` (after a build: Node 20 cannot run TypeScript).
import { serveNode } from './node-server.ts'
import { startup } from './startup.ts'

startup(process.argv, process.env)
  .then(({ app, config, where }) => {
    const server = serveNode(app, config, (info) => {
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
