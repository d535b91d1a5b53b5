// Deno entry: `deno run --allow-net --allow-read --allow-write --allow-env --allow-sys=hostname packages/key-proxy/src/serve-deno.ts`.
import { startup } from './startup.ts'

try {
  const { app, config, where, listening } = await startup(Deno.args, Deno.env.toObject())
  Deno.serve(
    {
      hostname: config.host,
      port: config.port,
      onListen: ({ port }) => {
        listening(port)
        console.log(`envelope key proxy listening on http://${config.host}:${port}`)
        console.log(where)
      },
    },
    app.fetch,
  )
} catch (err) {
  const e = err as { code?: string; message?: string }
  console.error(`key proxy did not start: ${e?.code ? `${e.code}: ` : ''}${e?.message ?? err}`)
  Deno.exit(1)
}
