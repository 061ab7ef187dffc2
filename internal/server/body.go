package server

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
)

// Each request holds its share of the memory budget from before its body
// is read until its response is written. A JSON body holds three times its
// length: the body, the strings parsed out of it, and the images decoded
// from their base64 (or the copy of the texts sent on to the router). A
// raw image body is handed to the decoder as it is, and holds its length.
const (
	jsonCopies  = 3
	imageCopies = 1
)

// copiesOf is how many times its length a body of this type holds.
func copiesOf(r *http.Request) int64 {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); strings.HasPrefix(ct, "image/") {
		return imageCopies
	}
	return jsonCopies
}

// chunk is how much more a body without a Content-Length is let to hold
// at a time.
const chunk = 1 << 20

// readBody admits a request's body into the memory budget and reads it:
// with a Content-Length, before any of it is read (413 over MaxBodyBytes,
// 429 while the budget is full); without one, as it arrives. The body must
// arrive within BodyTimeout. release gives the request's share back; it is
// safe to call more than once, and must be called even when err is set.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) (body []byte, release func(), err error) {
	held := int64(0)
	release = func() {
		if held > 0 {
			s.mem.releaseBody(held)
			held = 0
		}
	}
	take := func(n int64) error {
		if n > s.mem.limit-s.mem.reserve {
			return errTooLargeToHold(n, s.mem.limit-s.mem.reserve)
		}
		if !s.mem.tryBody(n) {
			s.m.memoryRejected.Inc()
			return errBusyMemory()
		}
		held += n
		return nil
	}
	copies := copiesOf(r)
	limit := s.cfg.MaxBodyBytes
	if r.ContentLength > limit {
		return nil, release, errBodyTooLarge(limit)
	}
	if r.ContentLength >= 0 {
		if err := take(copies * r.ContentLength); err != nil {
			return nil, release, err
		}
	}
	// The body must arrive in time; once it has, the connection's read
	// deadline is lifted, so that a long inference is not cut off by it
	// (net/http cancels a request whose connection read times out). A
	// body that did not arrive keeps it: the connection is closed.
	rc := http.NewResponseController(w)
	if s.cfg.BodyTimeout > 0 {
		_ = rc.SetReadDeadline(time.Now().Add(s.cfg.BodyTimeout))
		defer func() {
			if err == nil {
				_ = rc.SetReadDeadline(time.Time{})
			}
		}()
	}
	if r.ContentLength >= 0 {
		body = make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, body); err != nil {
			return nil, release, errReadBody(err)
		}
		return body, release, nil
	}
	// No length (chunked): grow the share before the buffer grows.
	body = make([]byte, 0, 64<<10)
	if err := take(copies * int64(cap(body))); err != nil {
		return nil, release, err
	}
	for {
		if len(body) == cap(body) {
			next := min(2*int64(cap(body)), int64(cap(body))+chunk, limit+1)
			if err := take(copies * (next - int64(cap(body)))); err != nil {
				return nil, release, err
			}
			grown := make([]byte, len(body), next)
			copy(grown, body)
			body = grown
		}
		n, err := r.Body.Read(body[len(body):cap(body)])
		body = body[:len(body)+n]
		if int64(len(body)) > limit {
			return nil, release, errBodyTooLarge(limit)
		}
		if errors.Is(err, io.EOF) {
			return body, release, nil
		}
		if err != nil {
			return nil, release, errReadBody(err)
		}
	}
}

func errBodyTooLarge(limit int64) *apiError {
	return &apiError{status: http.StatusRequestEntityTooLarge, typ: "invalid_request_error",
		message: fmt.Sprintf("the request body is over this server's limit of %d bytes", limit)}
}

func errTooLargeToHold(n, most int64) *apiError {
	return &apiError{status: http.StatusRequestEntityTooLarge, typ: "invalid_request_error",
		message: fmt.Sprintf("the request needs %d bytes of memory, more than this server lets requests hold at once (%d)", n, most)}
}

func errBusyMemory() *apiError {
	return &apiError{status: http.StatusTooManyRequests, typ: "rate_limit_exceeded", code: "rate_limit_exceeded", retryAfter: 1,
		message: "this server is holding as many request bytes as it admits; retry after 1 second"}
}

// refuse answers a request whose body was not admitted or did not arrive.
// A 429 is sent at once and the body, if the client is sending it anyway
// (no Expect: 100-continue), is then read and dropped, holding nothing of
// the budget: a client still writing a body the server will not read
// would otherwise have its connection reset, often before it reads the
// answer. Every other refusal closes the connection unread.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, api apiKind, err error) {
	var ae *apiError
	drain := errors.As(err, &ae) && ae.status == http.StatusTooManyRequests && !strings.EqualFold(r.Header.Get("Expect"), "100-continue")
	if !drain {
		w.Header().Set("Connection", "close")
	}
	writeError(w, r, api, err)
	if !drain {
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	if s.cfg.BodyTimeout > 0 {
		_ = rc.SetReadDeadline(time.Now().Add(s.cfg.BodyTimeout))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, s.cfg.MaxBodyBytes+1))
}

// errReadBody is a body that did not arrive: cut off, or too slow.
func errReadBody(err error) *apiError {
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		return &apiError{status: http.StatusRequestTimeout, typ: "invalid_request_error",
			message: "the request body did not arrive in time"}
	}
	return &apiError{status: http.StatusBadRequest, typ: "invalid_request_error",
		message: fmt.Sprintf("the request body could not be read: %v", err)}
}
