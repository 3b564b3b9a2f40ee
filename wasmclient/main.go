//go:build js && wasm

// Command wasmclient is poolchat's browser client, compiled to WebAssembly.
// It speaks the WebSocket protocol of docs/PROTOCOL.md through the browser's
// own WebSocket and JSON, and keeps the page's DOM hooks (#users, #log,
// #status, the name dialog and the send form) in step with the room.
//
// It deliberately avoids fmt, encoding/json and net/http: each would add
// hundreds of kilobytes that every visitor downloads.
package main

import "syscall/js"

func main() {
	c := newClient(js.Global().Get("document"))
	c.start()
	select {} // the client lives in its callbacks
}
