// `serve`: the automerge-repo sync server, in this very process (the harness reads
// its peak RSS and CPU time from /proc).
//
// --flavor published: @automerge/automerge-repo-sync-server as published (it bundles
//   automerge-repo 1.x), started exactly as its bin does, configured through its
//   PORT / DATA_DIR environment variables, pinned to 127.0.0.1 by pin-loopback.mjs.
// --flavor latest: the same Repo set-up (NodeWSServerAdapter on a `noServer`
//   WebSocketServer, NodeFSStorageAdapter, peer id `storage-server-<hostname>`,
//   sharePolicy that never announces) on the 2.x packages, behind node:http instead
//   of express (express only serves a greeting page there).
import fs from "node:fs"
import http from "node:http"
import os from "node:os"
import path from "node:path"
import { emit, log } from "./io.mjs"

/**
 * Counts storage writes in flight so SIGTERM can let them land: both flavors save
 * documents on a 100 ms throttle after each change and never fsync.
 */
function trackWrites(Adapter) {
  const pending = new Set()
  for (const method of ["save", "remove", "removeRange"]) {
    const original = Adapter.prototype[method]
    Adapter.prototype[method] = function (...args) {
      const p = original.apply(this, args)
      pending.add(p)
      const forget = () => pending.delete(p)
      p.then(forget, forget)
      return p
    }
  }
  return async () => {
    // Throttled saves start up to 100 ms after the last change.
    for (let round = 0; round < 50; round++) {
      await new Promise(r => setTimeout(r, 150))
      if (pending.size === 0) return
      await Promise.allSettled([...pending])
    }
  }
}

function onTerm(drain) {
  let stopping = false
  process.on("SIGTERM", () => {
    if (stopping) return
    stopping = true
    drain()
      .catch(err => log("flush on SIGTERM failed:", err?.message))
      .finally(() => process.exit(0))
  })
}

async function published(port, storage) {
  const { firstListening } = await import("./pin-loopback.mjs")
  const main = import.meta.resolve("@automerge/automerge-repo-sync-server")
  const bundled = new URL(
    "../node_modules/@automerge/automerge-repo-storage-nodefs/dist/index.js",
    main,
  )
  const { NodeFSStorageAdapter } = await import(bundled.href)
  onTerm(trackWrites(NodeFSStorageAdapter))
  process.env.PORT = String(port)
  process.env.DATA_DIR = storage
  await import(new URL("./index.js", main).href)
  const { host, port: bound } = await firstListening
  if (host !== "127.0.0.1") throw new Error(`server bound to ${host}`)
  return bound
}

async function latest(port, storage) {
  const { WebSocketServer } = await import("ws")
  const { Repo } = await import("@automerge/automerge-repo")
  const { NodeWSServerAdapter } = await import(
    "@automerge/automerge-repo-network-websocket"
  )
  const { NodeFSStorageAdapter } = await import(
    "@automerge/automerge-repo-storage-nodefs"
  )
  const drainWrites = trackWrites(NodeFSStorageAdapter)

  if (!fs.existsSync(storage)) fs.mkdirSync(storage)
  const socket = new WebSocketServer({ noServer: true })
  const repo = new Repo({
    network: [new NodeWSServerAdapter(socket)],
    storage: new NodeFSStorageAdapter(storage),
    peerId: `storage-server-${os.hostname()}`,
    // A server only syncs documents a peer asks for by id.
    sharePolicy: async () => false,
  })
  onTerm(async () => {
    await repo.flush()
    await drainWrites()
  })

  const server = http.createServer((req, res) => {
    res.end("automerge-repo sync server (2.x) is running")
  })
  server.on("upgrade", (request, sock, head) => {
    socket.handleUpgrade(request, sock, head, ws => {
      socket.emit("connection", ws, request)
    })
  })
  await new Promise((resolve, reject) => {
    server.once("error", reject)
    server.listen(port, "127.0.0.1", resolve)
  })
  return server.address().port
}

export async function serve(args) {
  const flavor = args.flavor ?? "latest"
  const storage = path.resolve(args.storage)
  const port = Number(args.port)
  let bound
  if (flavor === "published") bound = await published(port, storage)
  else if (flavor === "latest") bound = await latest(port, storage)
  else throw new Error(`unknown flavor ${flavor}`)
  log(`serving flavor ${flavor} on 127.0.0.1:${bound}, storage ${storage}`)
  // The result line goes out now; the process stays up until SIGTERM/SIGKILL.
  emit({ listening: bound })
}
