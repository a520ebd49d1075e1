// Output and arguments of the runner. Kept free of Automerge imports so that
// `serve --flavor published` loads only what the published server loads.
import fs from "node:fs"
import path from "node:path"

// The protocol reserves stdout for the one result line; libraries that log with
// console.log (the published sync server does) must not mix into it.
const writeStdout = process.stdout.write.bind(process.stdout)
console.log = (...args) => console.error(...args)

export function log(...args) {
  console.error("[runner]", ...args)
}

/** Prints the result line; `then` runs once stdout has taken it. */
export function emit(result, then = () => {}) {
  writeStdout(JSON.stringify(result) + "\n", then)
}

/** Prints the result line and exits. */
export function finish(result) {
  emit(result, () => process.exit(0))
}

export function fail(err) {
  console.error("[runner] error:", err?.stack ?? String(err))
  process.exit(1)
}

/** `--key value` pairs; every key listed in `required` must be present. */
export function parseArgs(argv, required) {
  const args = {}
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i]
    if (!key.startsWith("--") || i + 1 >= argv.length) {
      throw new Error(`bad argument ${key}: expected --key value`)
    }
    args[key.slice(2)] = argv[++i]
  }
  for (const key of required) {
    if (args[key] === undefined) throw new Error(`missing --${key}`)
  }
  return args
}

export function readJson(file) {
  return JSON.parse(fs.readFileSync(file, "utf8"))
}

export function writeJson(file, value) {
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, JSON.stringify(value))
}

