// The client-side commands of the reference runner (see README.md for what each
// one times). Every client is the latest automerge-repo 2.x with NodeFS storage.
import fs from "node:fs"
import path from "node:path"
import { monitorEventLoopDelay } from "node:perf_hooks"
import {
  inWindow,
  clientRepo,
  countDisconnects,
  fetchDoc,
  closeRepos,
  connect,
  freshDir,
  headsOf,
  localHolds,
  notesOf,
  median,
  percentile,
  performance,
  readSeed,
  seconds,
  serverHeads,
  serverHolds,
  covers,
  spliceNotes,
} from "./client.mjs"
import { log, readJson, writeJson } from "./io.mjs"

function readManifest(data) {
  return readJson(path.join(data, "manifest.json"))
}

/** Loads every seeded document from the repo's own storage (no network). */
async function loadAll(repo, urls) {
  return Promise.all(urls.map(url => repo.find(url)))
}

/** Seeding imports and waits in batches so the event loop keeps answering keepalive pings. */
const SEED_BATCH = 100

export async function seed(args) {
  const manifest = readManifest(args.data)
  const dir = freshDir(path.join(args.state, "seed-client"))
  const t0 = performance.now()
  const repo = clientRepo(dir)
  const storageId = await connect(repo, args.url).serverStorageId
  const handles = []
  for (let start = 0; start < manifest.cases.length; start += SEED_BATCH) {
    const batch = manifest.cases.slice(start, start + SEED_BATCH).map(c =>
      repo.import(new Uint8Array(fs.readFileSync(path.join(args.data, c.file)))),
    )
    await Promise.all(batch.map(h => serverHolds(h, storageId, headsOf(h))))
    handles.push(...batch)
    log(`seeded ${handles.length} of ${manifest.cases.length}`)
  }
  await repo.flush()
  const elapsed = seconds(t0)

  const urls = handles.map(h => h.url)
  writeJson(path.join(args.state, "ids.json"), urls)
  writeJson(path.join(args.state, "seed.json"), {
    urls,
    heads: handles.map(headsOf),
    notes_paths: manifest.cases.map(c => c.notes_path),
    notes_lengths: handles.map(
      (h, i) => notesOf(h.doc(), manifest.cases[i].notes_path).length,
    ),
    small_edit: manifest.small_edit,
  })
  await repo.shutdown()
  return { seconds: elapsed, docs: handles.length }
}

/** Documents a new device fetches at once (see inWindow). */
const FETCH_WINDOW = 100

export async function initial(args) {
  const s = readSeed(args.state)
  const dir = freshDir(args.client)
  const t0 = performance.now()
  const repo = clientRepo(dir)
  // Asking before the handshake is done makes find() give up: the adapter counts
  // as ready after 1 s without a server, and then no peer has the document.
  const lost = countDisconnects(repo)
  await connect(repo, args.url).serverStorageId
  const handles = await inWindow(s.urls, FETCH_WINDOW, async (url, i) => {
    const h = await fetchDoc(repo, url)
    await localHolds(h, s.heads[i])
    return h
  })
  await repo.flush()
  const elapsed = seconds(t0)
  const disconnects = lost.disconnects

  handles.forEach((h, i) => {
    if (notesOf(h.doc(), s.notes_paths[i]).length !== s.notes_lengths[i]) {
      throw new Error(`document ${i} arrived with different notes`)
    }
  })
  await repo.shutdown()
  return {
    seconds: elapsed,
    docs: handles.length,
    disconnects,
    note: "from repo creation over empty storage to every document complete (heads and notes as seeded) and flushed",
  }
}

/** Waits until server and client announce the same heads for the document. */
function inSync(handle, storageId) {
  return serverHolds(handle, storageId, headsOf(handle)).then(() =>
    localHolds(handle, serverHeads(handle, storageId)),
  )
}

export async function reconnect(args) {
  const s = readSeed(args.state)
  const repo = clientRepo(args.client)
  const l0 = performance.now()
  const handles = await loadAll(repo, s.urls)
  const load = seconds(l0)

  const lost = countDisconnects(repo)
  const t0 = performance.now()
  const { serverStorageId } = connect(repo, args.url)
  const storageId = await serverStorageId
  await Promise.all(handles.map(h => inSync(h, storageId)))
  const elapsed = seconds(t0)
  const disconnects = lost.disconnects
  await repo.shutdown()
  return {
    seconds: elapsed,
    docs: handles.length,
    load_seconds: load,
    disconnects,
    note: "timed from connecting (every document already loaded from disk, load_seconds untimed) until the server has answered each document's sync with the same heads",
  }
}

export async function offlineDay(args) {
  const s = readSeed(args.state)
  const manifest = readManifest(args.data)

  // Office: online edits the device has to receive (untimed).
  const officeDir = freshDir(path.join(args.state, `office-${process.pid}`))
  const office = clientRepo(officeDir)
  const officeConn = connect(office, args.url)
  const officeSid = await officeConn.serverStorageId
  const officeHeads = new Map()
  for (const e of manifest.office) {
    const h = await fetchDoc(office, s.urls[e.case])
    await localHolds(h, s.heads[e.case])
    spliceNotes(h, s.notes_paths[e.case], e.pos, e.insert)
    officeHeads.set(e.case, headsOf(h))
  }
  await Promise.all(
    [...officeHeads].map(async ([i, heads]) =>
      serverHolds(await fetchDoc(office, s.urls[i]), officeSid, heads),
    ),
  )
  await closeRepos([office])
  fs.rmSync(officeDir, { recursive: true, force: true })

  // Device: a day of offline edits, flushed to its own storage (untimed). It
  // syncs every case it holds: it cannot know which ones the office touched.
  const device = clientRepo(args.client)
  const handles = await loadAll(device, s.urls)
  for (const e of manifest.offline_day) {
    spliceNotes(handles[e.case], s.notes_paths[e.case], e.pos, e.insert)
  }
  await device.flush()
  const edited = [...new Set(manifest.offline_day.map(e => e.case))]

  const lost = countDisconnects(device)
  const t0 = performance.now()
  const { serverStorageId } = connect(device, args.url)
  const storageId = await serverStorageId
  await Promise.all([
    ...edited.map(i => serverHolds(handles[i], storageId, headsOf(handles[i]))),
    ...[...officeHeads].map(([i, heads]) => localHolds(handles[i], heads)),
  ])
  await device.flush()
  const elapsed = seconds(t0)
  const disconnects = lost.disconnects
  await device.shutdown()
  return {
    seconds: elapsed,
    device_edits: manifest.offline_day.length,
    office_edits: manifest.office.length,
    disconnects,
    note: `device holds all ${s.urls.length} cases (loaded from disk untimed) and syncs each on connect; timed from connecting until the server holds the device's edits and the device holds (flushed) the office edits`,
  }
}

export async function many(args) {
  const s = readSeed(args.state)
  const devices = Number(args.devices)
  const total = Number(args.seconds)
  const insert = s.small_edit.insert
  const root = freshDir(path.join(args.state, `many-${process.pid}`))
  let errors = 0
  const onError = err => {
    errors++
    log("error in a client:", err?.message ?? String(err))
  }
  process.on("uncaughtException", onError)
  process.on("unhandledRejection", onError)

  // Set-up (untimed): every device fetches its case over its own connection.
  const clients = []
  for (let i = 0; i < devices; i++) {
    const repo = clientRepo(path.join(root, String(i)))
    const { serverStorageId } = connect(repo, args.url)
    clients.push({ repo, serverStorageId, doc: i % s.urls.length })
  }
  let setupRetries = 0
  await Promise.all(
    clients.map(async c => {
      c.storageId = await c.serverStorageId
      c.handle = await fetchDoc(c.repo, s.urls[c.doc])
      // The published 1.x server answers some of 200 simultaneous requests with
      // "unavailable" while it is still loading the document from disk; a new
      // connection makes the client ask again.
      for (let attempt = 0; attempt < 5 && !c.handle.isReady(); attempt++) {
        await Promise.race([
          localHolds(c.handle, s.heads[c.doc]).catch(() => {}),
          new Promise(r => setTimeout(r, 10_000)),
        ])
        if (c.handle.isReady()) break
        setupRetries++
        const adapter = c.repo.networkSubsystem.adapters[0]
        adapter.disconnect()
        adapter.connect(c.repo.peerId, adapter.peerMetadata)
      }
      await localHolds(c.handle, s.heads[c.doc])
    }),
  )
  let measuring = false
  for (const c of clients) {
    c.repo.networkSubsystem.on("peer-disconnected", () => {
      if (measuring) onError(new Error("a device lost its connection"))
    })
  }
  log(`${devices} devices connected (${setupRetries} reconnects during set-up)`)

  // Each device edits once a second, at its own offset inside the second; an
  // edit's latency ends when the server announces heads that include it.
  const latencies = []
  let pushed = 0
  const settle = c => {
    const theirs = serverHeads(c.handle, c.storageId)
    if (!theirs) return
    const now = performance.now()
    while (c.pending.length && covers(c.handle.doc(), theirs, c.pending[0].heads)) {
      latencies.push(now - c.pending.shift().t0)
    }
  }
  measuring = true
  // The devices share this process: its CPU time and event-loop delay tell how
  // much of the latency is the load generator's own.
  const cpu0 = process.cpuUsage()
  const loopDelay = monitorEventLoopDelay({ resolution: 10 })
  loopDelay.enable()
  const start = performance.now()
  await Promise.all(
    clients.map(
      c =>
        new Promise(resolve => {
          c.pending = []
          c.handle.on("remote-heads", () => settle(c))
          c.handle.on("heads-changed", () => settle(c))
          const offset = Math.random() * 1000
          let k = 0
          const tick = () => {
            if (k >= total) return resolve()
            try {
              const doc = c.handle.doc()
              spliceNotes(c.handle, s.notes_paths[c.doc], notesOf(doc, s.notes_paths[c.doc]).length, insert)
              c.pending.push({ heads: headsOf(c.handle), t0: performance.now() })
              pushed++
            } catch (err) {
              onError(err)
            }
            k++
            setTimeout(tick, Math.max(0, start + offset + k * 1000 - performance.now()))
          }
          setTimeout(tick, offset)
        }),
    ),
  )
  // Late acknowledgements still count; what is not acknowledged by then is an error.
  const drainUntil = performance.now() + 10_000
  while (clients.some(c => c.pending.length) && performance.now() < drainUntil) {
    await new Promise(r => setTimeout(r, 50))
  }
  measuring = false
  const unacked = clients.reduce((n, c) => n + c.pending.length, 0)
  errors += unacked
  await closeRepos(clients.map(c => c.repo))
  fs.rmSync(root, { recursive: true, force: true })

  latencies.sort((a, b) => a - b)
  const cpu = process.cpuUsage(cpu0)
  loopDelay.disable()
  return {
    p50_ms: median(latencies),
    p99_ms: percentile(latencies, 99),
    edits: latencies.length,
    errors,
    pushed,
    unacknowledged: unacked,
    setup_reconnects: setupRetries,
    client_cpu_seconds: (cpu.user + cpu.system) / 1e6,
    client_loop_delay_p99_ms: loopDelay.percentile(99) / 1e6,
    note: "latency from the local change until the server's sync message announces heads that include it; every device has its own Repo, NodeFS storage and WebSocket",
  }
}

export async function commit(args) {
  const manifest = readManifest(args.data)
  const reps = Number(args.reps)
  const repo = clientRepo(freshDir(args.dir))
  const c = manifest.cases[0]
  const handle = repo.import(new Uint8Array(fs.readFileSync(path.join(args.data, c.file))))
  await repo.flush()
  const times = []
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now()
    spliceNotes(handle, c.notes_path, notesOf(handle.doc(), c.notes_path).length, manifest.small_edit.insert)
    await repo.flush([handle.documentId])
    times.push(performance.now() - t0)
  }
  await repo.shutdown()
  times.sort((a, b) => a - b)
  return {
    median_ms: median(times),
    p95_ms: percentile(times, 95),
    note: "handle.change (notes splice) then repo.flush of that document: written to its files, NodeFS never fsyncs",
  }
}
