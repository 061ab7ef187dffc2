package remote

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// HTTPError is a non-2xx answer from the router or the Hub, with what the
// server said. Its message never contains the access token.
type HTTPError struct {
	Model      string
	URL        string // without query secrets; the token is never in it
	StatusCode int
	Message    string // the JSON "error" field, or the start of a text body
	RequestID  string // x-request-id, to quote to Hugging Face
	ErrorCode  string // X-Error-Code, when the server sent one
	// EstimatedTime is how long a loading model said it needs (503).
	EstimatedTime time.Duration
	// RetryAfter is the server's Retry-After (429, 503).
	RetryAfter time.Duration
}

func (e *HTTPError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d %s", e.URL, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Message != "" && !strings.EqualFold(e.Message, http.StatusText(e.StatusCode)) {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	switch {
	case e.StatusCode == http.StatusNotFound:
		fmt.Fprintf(&b, " (no provider serves %s on this route, or the URL is wrong)", e.Model)
	case e.StatusCode == http.StatusServiceUnavailable && e.EstimatedTime > 0:
		fmt.Fprintf(&b, " (model loading, ready in about %s)", e.EstimatedTime.Round(time.Second))
	case e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden:
		b.WriteString(" (check HF_TOKEN: missing, invalid, or without access to this repo)")
	case e.StatusCode == http.StatusPaymentRequired:
		b.WriteString(" (the account's inference credits are used up)")
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " [request id %s]", e.RequestID)
	}
	return b.String()
}

// Class sentinels, matched with errors.Is against an *HTTPError (or an
// error wrapping one).
var (
	ErrNotServed    = errors.New("model not served by the router")
	ErrUnauthorized = errors.New("the Hugging Face token was refused")
	ErrLoading      = errors.New("model is loading")
	ErrRateLimited  = errors.New("rate limited")
	ErrBadRequest   = errors.New("request rejected")
	ErrPayment      = errors.New("payment required")
	ErrServer       = errors.New("server error")
	ErrTooLarge     = errors.New("request too large")
)

// Is lets errors.Is(err, remote.ErrNotServed) and friends classify.
func (e *HTTPError) Is(target error) bool {
	switch target {
	case ErrNotServed:
		return e.StatusCode == http.StatusNotFound
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden
	case ErrLoading:
		return e.StatusCode == http.StatusServiceUnavailable
	case ErrRateLimited:
		return e.StatusCode == http.StatusTooManyRequests
	case ErrBadRequest:
		return e.StatusCode == http.StatusBadRequest || e.StatusCode == http.StatusUnprocessableEntity
	case ErrPayment:
		return e.StatusCode == http.StatusPaymentRequired
	case ErrServer:
		return e.StatusCode >= 500
	case ErrTooLarge:
		return e.StatusCode == http.StatusRequestEntityTooLarge
	}
	return false
}

// IsNotServed reports a 404: no provider serves the model on this route.
func IsNotServed(err error) bool { return errors.Is(err, ErrNotServed) }

// IsAuth reports a 401 or 403.
func IsAuth(err error) bool { return errors.Is(err, ErrUnauthorized) }

// IsRetryable reports errors worth another attempt: loading, rate limits,
// server errors, and transport failures (resets, timeouts, bad bodies).
func IsRetryable(err error) bool {
	var he *HTTPError
	if errors.As(err, &he) {
		return he.StatusCode == http.StatusTooManyRequests || he.StatusCode >= 500
	}
	var te *TransportError
	return errors.As(err, &te)
}

// TransportError is a failure below HTTP status codes: the connection was
// refused or reset, the body was cut, or it was not what the route answers.
type TransportError struct {
	Model string
	URL   string
	Err   error
}

func (e *TransportError) Error() string { return fmt.Sprintf("%s: %v", e.URL, e.Err) }
func (e *TransportError) Unwrap() error { return e.Err }

// ErrMalformed is wrapped by TransportErrors for 200 answers whose body is
// not the shape the route promises (bad JSON, wrong counts or dimensions).
var ErrMalformed = errors.New("malformed response")

// maxErrorBody bounds how much of an error body is read and quoted.
const maxErrorBody = 64 << 10

// newHTTPError reads an error response by its Content-Type: JSON bodies
// give their "error" field (a string or a list), anything else (the
// router's plain-text "Not Found", a gateway's HTML) its first line.
func newHTTPError(model, url string, resp *http.Response, body []byte, redact func(string) string) *HTTPError {
	e := &HTTPError{
		Model: model, URL: url, StatusCode: resp.StatusCode,
		RequestID:  resp.Header.Get("X-Request-Id"),
		ErrorCode:  resp.Header.Get("X-Error-Code"),
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
	}
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if ct == "application/json" || strings.HasSuffix(ct, "+json") {
		var obj struct {
			Error json.RawMessage `json:"error"`
			// detail is FastAPI's and the Hub's form; @huggingface/inference
			// reads it when there is no error field.
			Detail        json.RawMessage `json:"detail"`
			EstimatedTime float64         `json:"estimated_time"`
		}
		if json.Unmarshal(body, &obj) == nil {
			e.Message = jsonErrorText(obj.Error)
			if e.Message == "" {
				e.Message = jsonErrorText(obj.Detail)
			}
			if obj.EstimatedTime > 0 {
				e.EstimatedTime = time.Duration(obj.EstimatedTime * float64(time.Second))
			}
		}
	}
	if e.Message == "" {
		e.Message = firstLine(body)
	}
	if m := resp.Header.Get("X-Error-Message"); m != "" && e.Message == "" {
		e.Message = m
	}
	e.Message = redact(e.Message)
	return e
}

// jsonErrorText reads an error field: a string, a list (422s), or an
// object with a message (OpenAI-compatible providers).
func jsonErrorText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var obj struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &obj) == nil && obj.Message != "" {
		return obj.Message
	}
	var list []any
	if json.Unmarshal(raw, &list) == nil {
		parts := make([]string, len(list))
		for i, x := range list {
			parts[i] = fmt.Sprint(x)
		}
		return strings.Join(parts, "; ")
	}
	if len(raw) > 0 && string(raw) != "null" {
		return string(raw)
	}
	return ""
}

// firstLine is a short, printable excerpt of a non-JSON body; HTML gets its
// <title> when it has one.
func firstLine(body []byte) string {
	s := string(body)
	if i := strings.Index(strings.ToLower(s), "<title>"); i >= 0 {
		rest := s[i+7:]
		if j := strings.Index(strings.ToLower(rest), "</title>"); j >= 0 {
			return strings.TrimSpace(rest[:j])
		}
	}
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	s = strings.ToValidUTF8(s, "?")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// parseRetryAfter reads delta-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil && secs >= 0 {
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
