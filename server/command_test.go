package server

import (
	"strings"
	"testing"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		in   string
		want Command
		code string // refusal code, if refused
	}{
		{in: "whats up?", want: Command{Kind: CommandSay, Arg: "whats up?"}},
		{in: `\nick bob`, want: Command{Kind: CommandNick, Arg: "bob"}},
		{in: `/nick   bob  `, want: Command{Kind: CommandNick, Arg: "bob"}},
		{in: "/nick\tbob", want: Command{Kind: CommandNick, Arg: "bob"}},
		{in: `\nick two words`, want: Command{Kind: CommandNick, Arg: "two words"}},
		{in: `\NICK bob`, want: Command{Kind: CommandNick, Arg: "bob"}},
		{in: `\nick`, code: CodeBadRequest},
		{in: `\nick   `, code: CodeBadRequest},
		{in: `/me waves`, want: Command{Kind: CommandMe, Arg: "waves"}},
		{in: `\me`, code: CodeBadRequest},
		{in: `\who`, want: Command{Kind: CommandWho}},
		{in: `/help`, want: Command{Kind: CommandHelp}},
		{in: `\quit`, want: Command{Kind: CommandQuit}},
		{in: `\quit bye all`, want: Command{Kind: CommandQuit}},
		{in: `\bogus`, code: CodeUnknownCommand},
		{in: `\`, code: CodeUnknownCommand},
		{in: `/ x`, code: CodeUnknownCommand},
		{in: `//shrug`, want: Command{Kind: CommandSay, Arg: "/shrug"}},
		{in: `\\nick bob`, want: Command{Kind: CommandSay, Arg: `\nick bob`}},
		{in: `/nickname bob`, code: CodeUnknownCommand},
	}
	for _, tt := range tests {
		got, r := ParseCommand(tt.in)
		switch {
		case tt.code != "" && r == nil:
			t.Errorf("ParseCommand(%q) = %+v, want refusal %s", tt.in, got, tt.code)
		case tt.code != "" && r.Code != tt.code:
			t.Errorf("ParseCommand(%q) refused with %s (%s), want %s", tt.in, r.Code, r.Text, tt.code)
		case tt.code == "" && r != nil:
			t.Errorf("ParseCommand(%q) refused: %s", tt.in, r.Text)
		case tt.code == "" && got != tt.want:
			t.Errorf("ParseCommand(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseCommandEchoIsShort(t *testing.T) {
	_, r := ParseCommand(`\` + strings.Repeat("x", 500))
	if r == nil || len(r.Text) > 120 {
		t.Fatalf("refusal of a long unknown command: %+v", r)
	}
}

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{`\nick bob`, `/me x`, `\who`, `//x`, `\`, `/`, "\\nick\t", `\quit now`, "plain"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		cmd, r := ParseCommand(in)
		if r != nil {
			if r.Code == "" || r.Text == "" || cmd != (Command{}) {
				t.Fatalf("ParseCommand(%q): bad refusal %+v with %+v", in, r, cmd)
			}
			return
		}
		if !strings.HasPrefix(in, `\`) && !strings.HasPrefix(in, "/") {
			if cmd.Kind != CommandSay || cmd.Arg != in {
				t.Fatalf("ParseCommand(%q) = %+v: plain text must be said as it is", in, cmd)
			}
		}
		if (cmd.Kind == CommandNick || cmd.Kind == CommandMe) && strings.TrimSpace(cmd.Arg) != cmd.Arg {
			t.Fatalf("ParseCommand(%q): argument %q not trimmed", in, cmd.Arg)
		}
	})
}
