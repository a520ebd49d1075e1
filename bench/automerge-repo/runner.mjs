#!/usr/bin/env node
// Reference runner for the Keukentafel benchmark: automerge-repo clients and sync
// server. The command line is the "Reference runner CLI" of the benchmark protocol;
// every command prints one JSON object on its last stdout line, logs go to stderr.
import { fail, finish, parseArgs } from "./io.mjs"

const COMMANDS = {
  serve: ["port", "storage"],
  seed: ["url", "data", "state"],
  initial: ["url", "state", "client"],
  reconnect: ["url", "state", "client"],
  "offline-day": ["url", "data", "state", "client"],
  many: ["url", "state", "devices", "seconds"],
  commit: ["dir", "reps", "data"],
}

async function main() {
  const [cmd, ...rest] = process.argv.slice(2)
  if (!(cmd in COMMANDS)) {
    throw new Error(`usage: runner.mjs <${Object.keys(COMMANDS).join("|")}> --key value ...`)
  }
  const args = parseArgs(rest, COMMANDS[cmd])
  if (cmd === "serve") {
    // Imported on its own so the published server's process loads nothing else.
    const { serve } = await import("./serve.mjs")
    return serve(args)
  }
  const scenarios = await import("./scenarios.mjs")
  const run = {
    seed: scenarios.seed,
    initial: scenarios.initial,
    reconnect: scenarios.reconnect,
    "offline-day": scenarios.offlineDay,
    many: scenarios.many,
    commit: scenarios.commit,
  }[cmd]
  finish(await run(args))
}

main().catch(fail)
