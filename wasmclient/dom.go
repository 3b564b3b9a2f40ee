//go:build js && wasm

package main

import "syscall/js"

// page holds the DOM elements the client works with, found once.
type page struct {
	doc        js.Value
	users      js.Value // #users: one box per member
	count      js.Value // member count beside the list
	log        js.Value // #log: chat lines, oldest first
	status     js.Value // #status: connection state in words
	dialog     js.Value // dialog#name-dialog
	nameForm   js.Value
	nameInput  js.Value
	nameError  js.Value
	sendForm   js.Value // form#send
	message    js.Value // input#message
	sendButton js.Value
	warning    js.Value // #message-warning: says a message is too long to send
	usersMore  js.Value // counts the members beyond the boxes shown
	newBelow   js.Value // the "new messages below" cue
	typingLine js.Value // who is typing, under #log
	retry      js.Value // "Retry now", while reconnecting
	joinButton js.Value // opens the name dialog again after it was dismissed
	userTpl    js.Value // <template> holding the templ-rendered user box
	lineTpl    js.Value // <template> holding the templ-rendered log line
}

func findPage(doc js.Value) page {
	byID := func(id string) js.Value { return doc.Call("getElementById", id) }
	p := page{
		doc:        doc,
		users:      byID("users"),
		count:      byID("count"),
		log:        byID("log"),
		status:     byID("status"),
		dialog:     byID("name-dialog"),
		nameForm:   byID("name-form"),
		nameInput:  byID("name"),
		nameError:  byID("name-error"),
		sendForm:   byID("send"),
		message:    byID("message"),
		userTpl:    byID("user-template"),
		lineTpl:    byID("line-template"),
		warning:    byID("message-warning"),
		usersMore:  byID("users-more"),
		newBelow:   byID("new-below"),
		typingLine: byID("typing"),
		retry:      byID("retry"),
		joinButton: byID("join"),
	}
	p.sendButton = p.sendForm.Call("querySelector", "button")
	return p
}

// clone returns a fresh copy of a template's element.
func clone(tpl js.Value) js.Value {
	return tpl.Get("content").Get("firstElementChild").Call("cloneNode", true)
}

// setText sets the text of el's first descendant matching selector. Member
// text only ever reaches the page this way, never as HTML.
func setText(el js.Value, selector, text string) {
	if target := el.Call("querySelector", selector); !target.IsNull() {
		target.Set("textContent", text)
	}
}

// on adds an event listener that calls f with the event. The listener is
// never released, so on is only for elements that live as long as the page.
func on(target js.Value, event string, f func(ev js.Value)) {
	target.Call("addEventListener", event, listener(f))
}

// listener wraps f as a JavaScript event listener. Whoever makes one
// releases it once it can no longer be called.
func listener(f func(ev js.Value)) js.Func {
	return js.FuncOf(func(this js.Value, args []js.Value) any {
		defer logPanic()
		f(args[0])
		return nil
	})
}

// after runs f once, d milliseconds from now.
func after(ms int, f func()) {
	var fn js.Func
	fn = js.FuncOf(func(this js.Value, args []js.Value) any {
		defer fn.Release()
		defer logPanic()
		f()
		return nil
	})
	js.Global().Call("setTimeout", fn, ms)
}

// logPanic keeps a bug in one callback from stopping the client: it logs
// the panic to the console instead.
func logPanic() {
	if v := recover(); v != nil {
		msg := "poolchat: client error"
		switch e := v.(type) {
		case error:
			msg += ": " + e.Error()
		case string:
			msg += ": " + e
		}
		js.Global().Get("console").Call("error", msg)
	}
}
