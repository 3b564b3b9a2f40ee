// Package server runs a poolchat room: one [ClientPool] that every member
// joins, a TCP listener for netcat and telnet users, and an HTTP server for
// the page and its WebSocket.
//
// A message enters through a transport (tcp.go, ws.go), is cleaned and parsed
// once (clean.go, command.go), is ordered by the pool's single goroutine
// (pool.go), is encoded once per transport (event.go) and leaves through each
// member's outbox (outbox.go), drained by that member's own writer.
package server
