package server

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Transport names how a member is connected; it is the `via` of the
// WebSocket events.
type Transport string

// The two transports.
const (
	ViaTCP Transport = "tcp"
	ViaWeb Transport = "web"
)

// frame is one outgoing event encoded for both transports: CRLF-terminated
// lines for TCP and one JSON object for the WebSocket. A frame is encoded
// once and its bytes are shared by every recipient, so they are never
// modified after encoding. A large event may go in pieces (roster.go): its
// first frame then holds the start (on the WebSocket, the whole frame's
// header too), and each further piece is a part.
type frame struct {
	tcp  []byte
	web  []byte
	part bool // continues the event of the frame before it
}

// The WebSocket events, as they appear on the wire (docs/PROTOCOL.md).
type (
	wireWelcome struct {
		Type      string `json:"type"`
		ID        string `json:"id"`
		Name      string `json:"name"`
		Seq       uint64 `json:"seq"`              // the room's log position at the join or resume
		Epoch     string `json:"epoch"`            // names the log that seq counts in
		Resume    string `json:"resume,omitempty"` // the secret that takes this place back
		Resumed   bool   `json:"resumed,omitempty"`
		Recovered *bool  `json:"recovered,omitempty"` // on a resume: whether every missed event follows
	}
	wireUser struct {
		ID   string    `json:"id"`
		Name string    `json:"name"`
		Via  Transport `json:"via"`
		Away *string   `json:"away,omitempty"` // the reason, "" for none; absent when not away
	}
	wirePrivate struct {
		Type   string `json:"type"`
		ID     string `json:"id"`
		Name   string `json:"name"`
		To     string `json:"to"`
		ToName string `json:"to_name"`
		Text   string `json:"text"`
		Time   string `json:"time"`
		MsgID  string `json:"msg_id"`
		Seq    uint64 `json:"seq"`
	}
	wireAway struct {
		Type   string `json:"type"`
		ID     string `json:"id"`
		Reason string `json:"reason"`
		Seq    uint64 `json:"seq"`
	}
	wireBack struct {
		Type string `json:"type"`
		ID   string `json:"id"`
		Seq  uint64 `json:"seq"`
	}
	wireTyping struct {
		Type string `json:"type"`
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	wireNewUser struct {
		Type        string    `json:"type"`
		ID          string    `json:"id"`
		NewUserName string    `json:"new_user_name"`
		Via         Transport `json:"via"`
		Seq         uint64    `json:"seq"`
	}
	wireDisconnectUser struct {
		Type string `json:"type"`
		ID   string `json:"id"`
		Name string `json:"name"`
		Seq  uint64 `json:"seq"`
	}
	wireRename struct {
		Type    string `json:"type"`
		ID      string `json:"id"`
		OldName string `json:"old_name"`
		Name    string `json:"name"`
		Seq     uint64 `json:"seq"`
	}
	wireMessage struct {
		Type  string `json:"type"`
		ID    string `json:"id"`
		Name  string `json:"name"`
		Text  string `json:"text"`
		Time  string `json:"time"`
		Me    bool   `json:"me"`
		MsgID string `json:"msg_id"`
		Seq   uint64 `json:"seq"`
	}
	wireNotice struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	wireError struct {
		Type string `json:"type"`
		Code string `json:"code"`
		Text string `json:"text"`
	}
)

// mustJSON encodes a wire event. The wire types hold only strings and bools,
// so encoding cannot fail.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("server: encoding a wire event: " + err.Error())
	}
	return b
}

// line returns one TCP output line.
func line(parts ...string) []byte {
	n := 2
	for _, p := range parts {
		n += len(p)
	}
	b := make([]byte, 0, n)
	for _, p := range parts {
		b = append(b, p...)
	}
	return append(b, '\r', '\n')
}

// welcomeFrame greets a member that joined (recovered nil) or resumed.
// Only the member's own reader knows its resume token.
func welcomeFrame(m *Member, seq uint64, epoch string, recovered *bool) frame {
	return frame{
		tcp: line("* welcome to poolchat, ", m.name),
		web: mustJSON(wireWelcome{Type: "welcome", ID: m.id, Name: m.name, Seq: seq, Epoch: epoch,
			Resume: m.token, Resumed: recovered != nil, Recovered: recovered}),
	}
}

// rosterEntry is a member's object in `existing_users`.
func rosterEntry(m *Member) []byte {
	u := wireUser{ID: m.id, Name: m.name, Via: m.via}
	if m.away {
		u.Away = &m.awayReason
	}
	return mustJSON(u)
}

// historyFrame replays earlier messages: their own lines on TCP, one
// `history` event on the WebSocket, saying whether older ones are kept.
func historyFrame(msgs []heldMessage, more bool) frame {
	var tcp []byte
	web := []byte(`{"type":"history","messages":[`)
	for i, msg := range msgs {
		tcp = append(tcp, msg.f.tcp...)
		if i > 0 {
			web = append(web, ',')
		}
		web = append(web, msg.f.web...)
	}
	web = append(web, `],"more":`...)
	web = strconv.AppendBool(web, more)
	return frame{tcp: tcp, web: append(web, '}')}
}

// historyAnswer answers \history: on TCP the messages in their live line
// formats, each after its time; on the WebSocket a history event.
func historyAnswer(msgs []heldMessage, more bool) frame {
	tcp := line("* last ", strconv.Itoa(len(msgs)), " messages:")
	for _, msg := range msgs {
		tcp = append(tcp, '[')
		tcp = msg.at.UTC().AppendFormat(tcp, "15:04")
		tcp = append(tcp, "] "...)
		tcp = append(tcp, msg.f.tcp...)
	}
	return frame{tcp: append(tcp, line("* end of history")...), web: historyFrame(msgs, more).web}
}

// missedFrames are the events a resuming member missed, as they went out.
func missedFrames(events []heldMessage) []frame {
	out := make([]frame, len(events))
	for i, e := range events {
		out[i] = e.f
	}
	return out
}

func joinedFrame(m *Member, seq uint64) frame {
	return frame{
		tcp: line("* ", m.name, " joined"),
		web: mustJSON(wireNewUser{Type: "new_user", ID: m.id, NewUserName: m.name, Via: m.via, Seq: seq}),
	}
}

func leftFrame(m *Member, seq uint64) frame {
	return frame{
		tcp: line("* ", m.name, " left"),
		web: mustJSON(wireDisconnectUser{Type: "disconnect_user", ID: m.id, Name: m.name, Seq: seq}),
	}
}

func renameFrame(m *Member, oldName string, seq uint64) frame {
	return frame{
		tcp: line("* ", oldName, " is now known as ", m.name),
		web: mustJSON(wireRename{Type: "rename", ID: m.id, OldName: oldName, Name: m.name, Seq: seq}),
	}
}

func messageFrame(s entry, seq uint64) frame {
	var tcp []byte
	if s.Me {
		tcp = line("* ", s.Name, " ", s.Text)
	} else {
		tcp = line(s.Name, ": ", s.Text)
	}
	return frame{
		tcp: tcp,
		web: mustJSON(wireMessage{
			Type: "message", ID: s.ID, Name: s.Name, Text: s.Text,
			Time: s.Time.UTC().Format(time.RFC3339Nano), Me: s.Me, MsgID: s.MsgID, Seq: seq,
		}),
	}
}

// privateFrames are a private message as its sender and its recipient
// see it: their own TCP lines, one event on the WebSocket.
func privateFrames(e entry, toName string, seq uint64) (forSender, forRecipient frame) {
	web := mustJSON(wirePrivate{
		Type: "private", ID: e.ID, Name: e.Name, To: e.To, ToName: toName, Text: e.Text,
		Time: e.Time.UTC().Format(time.RFC3339Nano), MsgID: e.MsgID, Seq: seq,
	})
	return frame{tcp: line("-> ", toName, ": ", e.Text), web: web}, frame{tcp: line("<- ", e.Name, ": ", e.Text), web: web}
}

func awayFrame(m *Member, seq uint64) frame {
	return frame{tcp: awayLine(m), web: mustJSON(wireAway{Type: "away", ID: m.id, Reason: m.awayReason, Seq: seq})}
}

// awayLine is `* NAME is away` with the reason, if any.
func awayLine(m *Member) []byte {
	if m.awayReason == "" {
		return line("* ", m.name, " is away")
	}
	return line("* ", m.name, " is away: ", m.awayReason)
}

func backFrame(m *Member, seq uint64) frame {
	return frame{tcp: line("* ", m.name, " is back"), web: mustJSON(wireBack{Type: "back", ID: m.id, Seq: seq})}
}

// typingFrame goes to web members only, and is not numbered.
func typingFrame(m *Member) frame {
	return frame{web: mustJSON(wireTyping{Type: "typing", ID: m.id, Name: m.name})}
}

// mentionedLine is a message line as a TCP member named in it gets it:
// with a bell first, so the terminal beeps.
func mentionedLine(f frame) frame {
	return frame{tcp: append([]byte{'\a'}, f.tcp...)}
}

// noticeFrame carries server words for one member: `* ` lines on TCP, one
// `notice` event on the WebSocket.
func noticeFrame(lines ...string) frame {
	var tcp []byte
	for _, l := range lines {
		tcp = append(tcp, line("* ", l)...)
	}
	return frame{tcp: tcp, web: mustJSON(wireNotice{Type: "notice", Text: strings.Join(lines, "\n")})}
}

func refusalFrame(r *Refusal) frame {
	return frame{
		tcp: line("! ", r.Text),
		web: mustJSON(wireError{Type: "error", Code: r.Code, Text: r.Text}),
	}
}
