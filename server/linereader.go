package server

import (
	"errors"
	"io"
)

// MaxLineBytes is the longest TCP input line, not counting its end.
const MaxLineBytes = 4096

// ErrLineTooLong is returned by LineReader.ReadLine for a line longer than
// MaxLineBytes. The rest of that line is discarded up to its newline.
var ErrLineTooLong = errors.New("line too long")

// telnet protocol bytes (RFC 854).
const (
	telnetSE   = 240
	telnetSB   = 250
	telnetWILL = 251
	telnetDONT = 254
	telnetIAC  = 255
)

type telnetState uint8

const (
	telnetData   telnetState = iota
	telnetCmd                // after IAC
	telnetOption             // after IAC WILL/WONT/DO/DONT: one option byte
	telnetSub                // inside IAC SB … IAC SE
	telnetSubIAC             // IAC inside a subnegotiation
)

// LineReader splits netcat or telnet input into lines. Lines end in LF or
// CRLF; telnet commands and negotiations are skipped, IAC IAC is a data byte;
// a line over MaxLineBytes is reported once and discarded. Bytes are
// returned as sent: cleaning is the pool's job.
//
// A read error (a deadline, say) does not lose buffered input: ReadLine can
// be called again and carries on where it was.
type LineReader struct {
	r       io.Reader
	buf     []byte // read buffer, allocated at the first read
	start   int    // buf[start:end] is read but not yet scanned
	end     int
	line    []byte // the line being assembled
	telnet  telnetState
	discard bool // inside an over-long line, waiting for its end
}

// readBufferSize is what LineReader reads at once; lines grow past it.
const readBufferSize = 512

// NewLineReader returns a LineReader reading from r.
func NewLineReader(r io.Reader) *LineReader {
	return &LineReader{r: r}
}

// ReadLine returns the next line without its end. The slice is valid until
// the next call. At end of input, an unterminated last line is returned
// before io.EOF.
func (lr *LineReader) ReadLine() ([]byte, error) {
	for {
		for lr.start < lr.end {
			c := lr.buf[lr.start]
			lr.start++
			if !lr.data(c) {
				continue
			}
			if c == '\n' {
				if lr.discard {
					lr.discard = false
					continue
				}
				l := lr.line
				if n := len(l); n > 0 && l[n-1] == '\r' {
					l = l[:n-1]
				}
				lr.line = lr.line[:0]
				return l, nil
			}
			if lr.discard {
				continue
			}
			// Allow one byte more for the CR of a CRLF end.
			if len(lr.line) == MaxLineBytes+1 || (len(lr.line) == MaxLineBytes && c != '\r') {
				lr.line = lr.line[:0]
				lr.discard = true
				return nil, ErrLineTooLong
			}
			lr.line = append(lr.line, c)
		}
		if lr.buf == nil {
			lr.buf = make([]byte, readBufferSize)
		}
		n, err := lr.r.Read(lr.buf)
		lr.start, lr.end = 0, n
		if n > 0 {
			continue
		}
		if err == io.EOF && len(lr.line) > 0 && !lr.discard {
			l := lr.line
			lr.line = lr.line[:0]
			return l, nil
		}
		if err == nil {
			err = io.ErrNoProgress
		}
		return nil, err
	}
}

// data runs the telnet state machine over one byte and reports whether the
// byte is line data.
func (lr *LineReader) data(c byte) bool {
	switch lr.telnet {
	case telnetData:
		if c == telnetIAC {
			lr.telnet = telnetCmd
			return false
		}
		return true
	case telnetCmd:
		switch {
		case c == telnetIAC:
			lr.telnet = telnetData
			return true // IAC IAC: a literal 0xFF
		case c >= telnetWILL && c <= telnetDONT:
			lr.telnet = telnetOption
		case c == telnetSB:
			lr.telnet = telnetSub
		default:
			lr.telnet = telnetData
		}
	case telnetOption:
		lr.telnet = telnetData
	case telnetSub:
		if c == telnetIAC {
			lr.telnet = telnetSubIAC
		}
	case telnetSubIAC:
		if c == telnetSE {
			lr.telnet = telnetData
		} else {
			lr.telnet = telnetSub
		}
	}
	return false
}
