package chattest

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// WSClient is one browser-like WebSocket member, using coder/websocket's
// client side: a client library, not the server's own code.
type WSClient struct {
	t       testing.TB
	Conn    *websocket.Conn
	ID      string
	Name    string
	pending []string // events of the last frame not yet read
	Frames  int      // frames received, to see batching
}

// Event is one decoded server event.
type Event map[string]any

// Str returns a string field, or "" if absent.
func (e Event) Str(field string) string {
	s, _ := e[field].(string)
	return s
}

// DialWS opens /ws with the room's own Origin, without joining.
func (r *Room) DialWS(t testing.TB) *WSClient {
	t.Helper()
	c, resp, err := r.TryDialWS("http://" + r.HTTPAddr)
	if err != nil {
		t.Fatalf("dial ws: %v (response %v)", err, resp)
	}
	t.Cleanup(func() { c.Conn.CloseNow() })
	c.t = t
	return c
}

// TryDialWS opens /ws with the given Origin header ("" for none) and
// returns the HTTP response of a refused upgrade.
func (r *Room) TryDialWS(origin string) (*WSClient, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	conn, resp, err := websocket.Dial(ctx, "ws://"+r.HTTPAddr+"/ws", &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		return nil, resp, err
	}
	conn.SetReadLimit(-1)
	return &WSClient{Conn: conn}, resp, nil
}

// JoinWS dials and joins as name, reading welcome, existing_users and
// history, and returns the client with the history messages.
func (r *Room) JoinWS(t testing.TB, name string) *WSClient {
	t.Helper()
	c := r.DialWS(t)
	c.Send(map[string]any{"type": "got_a_new_user", "name": name})
	w := c.Expect("welcome")
	c.ID, c.Name = w.Str("id"), w.Str("name")
	c.Expect("existing_users")
	c.Expect("history")
	return c
}

// Send writes one event as a text frame.
func (c *WSClient) Send(v any) {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	c.SendRaw(websocket.MessageText, b)
}

// Say sends a `message` event.
func (c *WSClient) Say(text string) {
	c.t.Helper()
	c.Send(map[string]any{"type": "message", "text": text})
}

// SendRaw writes one frame as it is.
func (c *WSClient) SendRaw(typ websocket.MessageType, b []byte) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	if err := c.Conn.Write(ctx, typ, b); err != nil {
		c.t.Fatalf("%s: write: %v", c.Name, err)
	}
}

// TryNext returns the next event, reading a new frame when the last one is
// used up.
func (c *WSClient) TryNext(d time.Duration) (Event, error) {
	if len(c.pending) == 0 {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		typ, data, err := c.Conn.Read(ctx)
		if err != nil {
			return nil, err
		}
		if typ != websocket.MessageText {
			c.t.Fatalf("%s: got a binary frame", c.Name)
		}
		c.Frames++
		c.pending = strings.Split(string(data), "\n")
	}
	line := c.pending[0]
	c.pending = c.pending[1:]
	var e Event
	if err := json.Unmarshal([]byte(line), &e); err != nil {
		c.t.Fatalf("%s: event %q is not JSON: %v", c.Name, line, err)
	}
	return e, nil
}

// Next returns the next event, failing the test if none comes in Timeout.
func (c *WSClient) Next() Event {
	c.t.Helper()
	e, err := c.TryNext(Timeout)
	if err != nil {
		c.t.Fatalf("%s: read: %v", c.Name, err)
	}
	return e
}

// Expect reads the next event and fails unless its type is typ.
func (c *WSClient) Expect(typ string) Event {
	c.t.Helper()
	e := c.Next()
	if e.Str("type") != typ {
		c.t.Fatalf("%s: got %v, want a %s event", c.Name, e, typ)
	}
	return e
}

// ExpectClose reads until the connection closes and returns the close
// status, failing if an event arrives first.
func (c *WSClient) ExpectClose() websocket.StatusCode {
	c.t.Helper()
	e, err := c.TryNext(Timeout)
	if err == nil {
		c.t.Fatalf("%s: want the connection closed, got %v", c.Name, e)
	}
	return websocket.CloseStatus(err)
}
