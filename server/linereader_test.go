package server

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// readAll returns every line of input, with "ERR:too long" standing for
// ErrLineTooLong.
func readAll(t *testing.T, r io.Reader) []string {
	t.Helper()
	lr := NewLineReader(r)
	var out []string
	for {
		l, err := lr.ReadLine()
		switch {
		case errors.Is(err, ErrLineTooLong):
			out = append(out, "ERR:too long")
		case errors.Is(err, io.EOF):
			return out
		case err != nil:
			t.Fatalf("ReadLine: %v", err)
		default:
			out = append(out, string(l))
		}
	}
}

func TestLineReader(t *testing.T) {
	long := strings.Repeat("x", MaxLineBytes)
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"lf", "a\nb\n", []string{"a", "b"}},
		{"crlf", "a\r\nb\r\n", []string{"a", "b"}},
		{"empty lines", "\n\r\n", []string{"", ""}},
		{"bare cr stays for the cleaner", "a\rb\n", []string{"a\rb"}},
		{"last line without end", "a\nb", []string{"a", "b"}},
		{"telnet negotiation skipped", "\xff\xfb\x01\xff\xfd\x03hi\n", []string{"hi"}},
		{"telnet subnegotiation skipped", "a\xff\xfa\x18\x01\xff\xf0b\n", []string{"ab"}},
		{"telnet command skipped", "a\xff\xf1b\n", []string{"ab"}},
		{"IAC IAC is a data byte", "a\xff\xffb\n", []string{"a\xffb"}},
		{"NUL kept for the cleaner", "a\x00b\n", []string{"a\x00b"}},
		{"exactly the limit", long + "\n", []string{long}},
		{"limit with crlf", long + "\r\n", []string{long}},
		{"over the limit", long + "y\nnext\n", []string{"ERR:too long", "next"}},
		{"far over the limit", strings.Repeat("z", 100_000) + "\nnext\n", []string{"ERR:too long", "next"}},
		{"over the limit at eof", long + "yy", []string{"ERR:too long"}},
		{"split utf-8 kept whole", "日本\n", []string{"日本"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range []io.Reader{strings.NewReader(tt.in), iotest.OneByteReader(strings.NewReader(tt.in))} {
				got := readAll(t, r)
				if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
					t.Fatalf("lines = %q, want %q", got, tt.want)
				}
			}
		})
	}
}

// TestLineReaderResumesAfterError shows a read error (a deadline) loses no
// input: the partial line goes on when reading resumes.
func TestLineReaderResumesAfterError(t *testing.T) {
	lr := NewLineReader(&scriptReader{steps: []step{{data: "hel"}, {err: errTransient}, {data: "lo\n"}}})
	if _, err := lr.ReadLine(); !errors.Is(err, errTransient) {
		t.Fatalf("err = %v, want the transient error", err)
	}
	l, err := lr.ReadLine()
	if err != nil || string(l) != "hello" {
		t.Fatalf("after the error: %q, %v; want hello", l, err)
	}
}

var errTransient = errors.New("transient")

// scriptReader plays its steps, one per Read, then io.EOF.
type scriptReader struct{ steps []step }

type step struct {
	data string
	err  error
}

func (s *scriptReader) Read(p []byte) (int, error) {
	if len(s.steps) == 0 {
		return 0, io.EOF
	}
	st := s.steps[0]
	s.steps = s.steps[1:]
	return copy(p, st.data), st.err
}

func FuzzLineReader(f *testing.F) {
	for _, s := range []string{
		"a\nb\r\n", "\xff\xfb\x01x\n", "\xff\xfa\x18\xff\xf0", "\xff\xff\n", "\xe6\x97\xa5\n",
		"\x1b[2J\n", strings.Repeat("x", MaxLineBytes+2) + "\n",
	} {
		f.Add([]byte(s), uint8(1))
	}
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		lr := NewLineReader(&chunkReader{data: in, n: int(chunk%16) + 1})
		for {
			l, err := lr.ReadLine()
			if errors.Is(err, io.EOF) {
				return
			}
			if errors.Is(err, ErrLineTooLong) {
				continue
			}
			if err != nil {
				t.Fatalf("ReadLine: %v", err)
			}
			if len(l) > MaxLineBytes || bytes.IndexByte(l, '\n') >= 0 {
				t.Fatalf("bad line of %d bytes: %q", len(l), l)
			}
		}
	})
}

// chunkReader returns its data n bytes at a time, to split sequences
// across reads.
type chunkReader struct {
	data []byte
	n    int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.n)], c.data)
	c.data = c.data[n:]
	return n, nil
}
