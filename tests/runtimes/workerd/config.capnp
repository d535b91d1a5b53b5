# workerd config for the conformance worker; scripts/workerd-tests.mjs bundles it to .ci-out/workerd/worker.js.
# `npx workerd test` runs its test() handler; `npx workerd serve` answers GET http://127.0.0.1:8787/ with results.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [ (name = "main", worker = .conformance) ],
  sockets = [ (name = "http", address = "127.0.0.1:8787", http = (), service = "main") ],
);

const conformance :Workerd.Worker = (
  modules = [ (name = "worker", esModule = embed "../../../.ci-out/workerd/worker.js") ],
  compatibilityDate = "2026-01-01",
);
