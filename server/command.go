package server

import (
	"strconv"
	"strings"
)

// CommandKind says what a line of member input asks for.
type CommandKind int

// The kinds of member input. Everything that does not start with a command
// prefix is CommandSay.
const (
	CommandSay     CommandKind = iota // plain text for everyone
	CommandMe                         // \me TEXT: an action
	CommandNick                       // \nick NEW: a new name
	CommandWho                        // \who: the list of members
	CommandHelp                       // \help: the list of commands
	CommandQuit                       // \quit: leave
	CommandHistory                    // \history [N]: the last N messages
	CommandMsg                        // \msg NAME TEXT: a private message
	CommandAway                       // \away [REASON]: step away
	CommandBack                       // \back: no longer away
)

// Command is one parsed line of member input.
type Command struct {
	Kind CommandKind
	Arg  string // the text for Say, Me and Msg, the new name for Nick, how many for History, the reason for Away
	To   string // the name a Msg is for
}

// MaxAwayRunes is the longest away reason kept; a longer one is cut.
const MaxAwayRunes = 100

// How many messages \history shows: by default, and at most.
const (
	defaultHistoryLines = 20
	maxHistoryLines     = 200
)

// helpLines answers \help on every transport.
var helpLines = []string{
	"commands (start them with \\ or /):",
	"  \\nick NEW        change your name (letters, digits, - _ . ; up to 24)",
	"  \\me TEXT         say what you are doing: * you TEXT",
	"  \\msg NAME TEXT   say something to NAME alone",
	"  \\away [REASON]   tell the room you stepped away; \\back when you return",
	"  \\who             list who is online",
	"  \\history [N]     the last N messages (default 20, at most 200)",
	"  \\help            this list",
	"  \\quit            leave the room",
	"  start a line with \\\\ or // to say it as it is, e.g. //shrug",
}

// ParseCommand parses one line of cleaned member input. It is the one parser
// for both transports. A line starting with \ or / is a command; a doubled
// prefix (\\ or //) escapes it, so the rest is said as it is. Unknown
// commands and missing arguments are refused.
func ParseCommand(line string) (Command, *Refusal) {
	if line == "" || (line[0] != '\\' && line[0] != '/') {
		return Command{Kind: CommandSay, Arg: line}, nil
	}
	if len(line) > 1 && (line[1] == '\\' || line[1] == '/') {
		return Command{Kind: CommandSay, Arg: line[1:]}, nil
	}
	name, arg := line[1:], ""
	if i := strings.IndexAny(name, " \t"); i >= 0 {
		name, arg = name[:i], strings.TrimSpace(name[i+1:])
	}
	switch strings.ToLower(name) {
	case "nick":
		if arg == "" {
			return Command{}, refuse(CodeBadRequest, `usage: \nick NEW`)
		}
		return Command{Kind: CommandNick, Arg: arg}, nil
	case "me":
		if arg == "" {
			return Command{}, refuse(CodeBadRequest, `usage: \me TEXT`)
		}
		return Command{Kind: CommandMe, Arg: arg}, nil
	case "who":
		return Command{Kind: CommandWho}, nil
	case "msg":
		to, text, _ := strings.Cut(arg, " ")
		if text = strings.TrimSpace(text); to == "" || text == "" {
			return Command{}, refuse(CodeBadRequest, `usage: \msg NAME TEXT`)
		}
		return Command{Kind: CommandMsg, To: to, Arg: text}, nil
	case "away":
		return Command{Kind: CommandAway, Arg: truncateRunes(arg, MaxAwayRunes)}, nil
	case "back":
		return Command{Kind: CommandBack}, nil
	case "help":
		return Command{Kind: CommandHelp}, nil
	case "quit":
		return Command{Kind: CommandQuit}, nil
	case "history":
		n := defaultHistoryLines
		if arg != "" {
			var err error
			if n, err = strconv.Atoi(arg); err != nil || n < 1 {
				return Command{}, refuse(CodeBadRequest, `usage: \history [N], N a number from 1`)
			}
		}
		return Command{Kind: CommandHistory, Arg: strconv.Itoa(min(n, maxHistoryLines))}, nil
	case "":
		return Command{}, refuse(CodeUnknownCommand, `a command needs a name after the \; type \help for the list`)
	}
	return Command{}, refuse(CodeUnknownCommand, "unknown command "+string(line[0])+truncate(name, 32)+`; type \help for the list`)
}

// truncateRunes cuts s to at most n runes.
func truncateRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

// truncate shortens s to at most n runes, so an echo of bad input stays short.
func truncate(s string, n int) string {
	if t := truncateRunes(s, n); len(t) < len(s) {
		return t + "…"
	}
	return s
}
