// Forces every server in this process to listen on 127.0.0.1. The published sync
// server calls `listen(PORT)`, which binds all interfaces; this wraps
// `net.Server.prototype.listen` instead of editing that code. Imported by
// `runner.mjs serve --flavor published`, and usable on its own as
// `node --import ./pin-loopback.mjs <server>`.
import net from "node:net"

const HOST = "127.0.0.1"
const listen = net.Server.prototype.listen

let announce
/** Resolves with the first server that is listening, and its port. */
export const firstListening = new Promise(resolve => {
  announce = resolve
})

function isPort(value) {
  return (
    typeof value === "number" ||
    (typeof value === "string" && /^\d+$/.test(value))
  )
}

net.Server.prototype.listen = function (...args) {
  const [first] = args
  if (isPort(first)) {
    // listen(port[, host][, backlog][, callback])
    if (typeof args[1] === "string") args[1] = HOST
    else args.splice(1, 0, HOST)
  } else if (first !== null && typeof first === "object" && !("_handle" in first) && !("fd" in first)) {
    // listen(options[, callback]); a path (unix socket) has no host to pin
    if (!("path" in first)) args[0] = { ...first, host: HOST }
  } else if (first === undefined || typeof first === "function") {
    // listen([callback]): a random port on all interfaces
    args.unshift(0, HOST)
  }
  this.once("listening", () => {
    const address = this.address()
    if (address && typeof address === "object") {
      announce({ server: this, port: address.port, host: address.address })
    }
  })
  return listen.apply(this, args)
}
