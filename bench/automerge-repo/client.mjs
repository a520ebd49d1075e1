// Client side of the runner: durable client repos on the latest automerge-repo 2.x
// and the checks that tell when the server holds what a client has.
import fs from "node:fs"
import path from "node:path"
import { performance } from "node:perf_hooks"
import * as A from "@automerge/automerge"
import { Repo, decodeHeads } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs"
import { readJson } from "./io.mjs"

export { A, performance }

/** Every wait is bounded: a scenario that has not converged by then is a failure. */
export const WAIT_MS = Number(process.env.BENCH_WAIT_MS ?? 600_000)

/** A directory that exists and is empty. */
export function freshDir(dir) {
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(dir, { recursive: true })
  return dir
}

/** What `seed` leaves in STATE for the other commands. */
export function readSeed(state) {
  return readJson(path.join(state, "seed.json"))
}

/** A client repo with durable storage in `dir`; offline until `connect`. */
export function clientRepo(dir) {
  return new Repo({ storage: new NodeFSStorageAdapter(dir) })
}

/**
 * Shuts repos down (disconnect, flush) and waits out their throttled background
 * saves (100 ms after a change), so their directories can be removed.
 */
export async function closeRepos(repos) {
  await Promise.all(repos.map(r => r.shutdown()))
  await new Promise(resolve => setTimeout(resolve, 500))
}

/**
 * Connects `repo` to the sync server and resolves with the server's storage id
 * (announced in its peer metadata) once the server has answered the handshake.
 */
export function connect(repo, url) {
  const adapter = new WebSocketClientAdapter(url)
  const peer = new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no handshake from ${url}`)),
      WAIT_MS,
    )
    const onPeer = ({ peerMetadata }) => {
      if (!peerMetadata?.storageId) return
      clearTimeout(timer)
      repo.networkSubsystem.off("peer", onPeer)
      resolve(peerMetadata.storageId)
    }
    repo.networkSubsystem.on("peer", onPeer)
  })
  repo.networkSubsystem.addNetworkAdapter(adapter)
  return { adapter, serverStorageId: peer }
}

export function headsOf(handle) {
  return A.getHeads(handle.doc())
}

/** Heads the server last announced for this document (hex), if any. */
export function serverHeads(handle, storageId) {
  const info = handle.getSyncInfo(storageId)
  return info ? decodeHeads(info.lastHeads) : undefined
}

/** True when every change in `ours` is in the history ending at `theirs`. */
export function covers(doc, theirs, ours) {
  const known = new Set(theirs)
  if (ours.every(h => known.has(h))) return true
  if (!A.hasHeads(doc, theirs)) return false
  const after = new Set(A.getChangesMetaSince(doc, theirs).map(c => c.hash))
  return ours.every(h => !after.has(h))
}

/**
 * Resolves once `check()` is true, re-checking whenever the handle hears new
 * remote heads or changes; rejects after WAIT_MS.
 */
export function waitFor(handle, check, what) {
  if (check()) return Promise.resolve()
  return new Promise((resolve, reject) => {
    const recheck = () => {
      if (!check()) return
      done()
      resolve()
    }
    const timer = setTimeout(() => {
      done()
      reject(new Error(`timed out waiting for ${what}`))
    }, WAIT_MS)
    const done = () => {
      clearTimeout(timer)
      handle.off("remote-heads", recheck)
      handle.off("heads-changed", recheck)
    }
    handle.on("remote-heads", recheck)
    handle.on("heads-changed", recheck)
  })
}

/** Waits until the server has announced heads that include all of `heads`. */
export function serverHolds(handle, storageId, heads) {
  return waitFor(
    handle,
    () => {
      const theirs = serverHeads(handle, storageId)
      return theirs !== undefined && covers(handle.doc(), theirs, heads)
    },
    "the server to hold a change",
  )
}

/** Waits until the local document contains all of `heads`. */
export function localHolds(handle, heads) {
  return waitFor(
    handle,
    () => handle.isReady() && A.hasHeads(handle.doc(), heads),
    "a document to arrive",
  )
}

/**
 * A handle for a document the server has, without giving up when the connection
 * drops mid-way: find() reports "unavailable" when its only peer disconnects,
 * and the handle still becomes ready once the reconnected server sends it.
 */
export function fetchDoc(repo, url) {
  return repo.find(url, { allowableStates: ["ready", "unavailable"] })
}

/**
 * Runs `task` over `items` with at most `limit` in flight, results in order. The
 * server drops a client whose keepalive pong waits behind more than ~5 s of
 * queued sync messages, and a client that loses its only peer mid-find may never
 * get those documents; a bounded window keeps the queues short.
 */
export async function inWindow(items, limit, task) {
  const results = new Array(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const i = next++
      results[i] = await task(items[i], i)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return results
}

/** Counts lost connections (the server drops clients that miss a keepalive pong). */
export function countDisconnects(repo) {
  const counter = { disconnects: 0 }
  repo.networkSubsystem.on("peer-disconnected", () => counter.disconnects++)
  return counter
}

/** The notes text of a case document. */
export function notesOf(doc, notesPath) {
  let node = doc
  for (const key of notesPath) node = node?.[key]
  if (typeof node !== "string") throw new Error("notes path does not lead to text")
  return node
}

/** Splices `insert` into the notes at `pos`, clamped to the text length. */
export function spliceNotes(handle, notesPath, pos, insert) {
  handle.change(doc => {
    const len = notesOf(doc, notesPath).length
    A.splice(doc, notesPath, Math.min(pos, len), 0, insert)
  })
}

export function seconds(t0) {
  return (performance.now() - t0) / 1000
}

/** Median of an ascending array (null when empty). */
export function median(sorted) {
  if (sorted.length === 0) return null
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/** Nearest-rank percentile of an ascending array (null when empty). */
export function percentile(sorted, p) {
  if (sorted.length === 0) return null
  const idx = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)
  return sorted[Math.max(0, idx)]
}
