package server

// The error codes a refusal carries; the WebSocket `error` event sends them,
// TCP shows only the text.
const (
	CodeNameTaken      = "name_taken"
	CodeNameInvalid    = "name_invalid"
	CodeTooLong        = "too_long"
	CodeRateLimited    = "rate_limited"
	CodeUnknownCommand = "unknown_command"
	CodeBadRequest     = "bad_request"
	CodeResumeFailed   = "resume_failed"
	CodeNoSuchUser     = "no_such_user"
)

// Refusal is the server's answer to input it did not accept: a code from the
// list above and words for the member. It is sent to the sender alone and
// changes nothing for anyone else.
type Refusal struct {
	Code string
	Text string
}

func refuse(code, text string) *Refusal { return &Refusal{Code: code, Text: text} }

// Error returns the refusal's text.
func (r *Refusal) Error() string { return r.Text }
