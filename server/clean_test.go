package server

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestClean(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "whats up?", "whats up?"},
		{"tab kept", "a\tb", "a\tb"},
		{"trailing space trimmed", "hi   ", "hi"},
		{"unicode kept", "héllo wörld 👋🏽 日本", "héllo wörld 👋🏽 日本"},
		{"zwj emoji kept", "👩‍💻", "👩‍💻"},
		{"invalid utf8", "a\xffb\xc3", "a\ufffdb\ufffd"},
		{"NUL and BEL", "a\x00b\x07c", "abc"},
		{"bare CR", "abc\rxyz", "abcxyz"},
		{"backspace", "abc\b\b\bxyz", "abcxyz"},
		{"DEL", "a\x7fb", "ab"},
		{"C1", "a\u0085b\u009ac", "abc"},
		{"clear screen", "a\x1b[2Jb", "ab"},
		{"cursor move", "a\x1b[10;20Hb", "ab"},
		{"private csi", "a\x1b[?25lb", "ab"},
		{"sgr colour", "\x1b[31mred\x1b[0m", "red"},
		{"window title BEL", "a\x1b]0;pwned\x07b", "ab"},
		{"window title ST", "a\x1b]2;pwned\x1b\\b", "ab"},
		{"osc 52 clipboard", "x\x1b]52;c;ZWNobyBoaQ==\x07y", "xy"},
		{"unterminated osc", "a\x1b]0;title", "a"},
		{"dcs", "a\x1bPq#0;2;0;0;0\x1b\\b", "ab"},
		{"charset", "a\x1b(Bb", "ab"},
		{"reset", "a\x1bcb", "ab"},
		{"8-bit csi", "a\u009b2Jb", "ab"},
		{"8-bit osc", "a\u009d0;t\u009cb", "ab"},
		{"lone esc at end", "a\x1b", "a"},
		{"bidi override", "abc\u202egnp.exe", "abcgnp.exe"},
		{"bidi isolate", "a\u2066b\u2069c", "abc"},
		{"bom", "\ufeffhello", "hello"},
		{"line separator", "a\u2028b", "ab"},
		{"only controls", "\x1b[2J\x07", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Clean(tt.in); got != tt.want {
				t.Errorf("Clean(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// checkCleaned fails unless s is safe: valid UTF-8 with no control, escape,
// bidi or separator characters, and unchanged by a second cleaning.
func checkCleaned(t *testing.T, in, s string) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Fatalf("Clean(%q) = %q: invalid UTF-8", in, s)
	}
	for _, r := range s {
		if r != '\t' && (unicode.IsControl(r) || removed(r)) {
			t.Fatalf("Clean(%q) = %q: keeps %U", in, s, r)
		}
	}
	if again := Clean(s); again != s {
		t.Fatalf("Clean is not idempotent: %q -> %q -> %q", in, s, again)
	}
	if strings.HasSuffix(s, " ") {
		t.Fatalf("Clean(%q) = %q: trailing space", in, s)
	}
}

func FuzzClean(f *testing.F) {
	for _, s := range []string{
		"hello", "\x1b[2J", "\x1b]0;t\x07", "\x1b]52;c;aGk=\x1b\\", "\xff\xfb\x01", "\xe6\x97", "日本\xe8",
		"\u009b31m", "\u202e", "a\rb", "\x1bP\x1b", "\x1b[", "\x1b[1;", "\t \t",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		checkCleaned(t, in, Clean(in))
	})
}

func BenchmarkClean(b *testing.B) {
	plain := strings.Repeat("the quick brown fox ", 3)
	dirty := "héllo \x1b[31mwörld\x1b[0m 👋 \u202e" + plain
	b.Run("ascii", func(b *testing.B) {
		b.SetBytes(int64(len(plain)))
		for b.Loop() {
			Clean(plain)
		}
	})
	b.Run("unicode", func(b *testing.B) {
		b.SetBytes(int64(len(dirty)))
		for b.Loop() {
			Clean(dirty)
		}
	})
}
