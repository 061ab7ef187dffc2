package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// Revision is what the Hub says of a repo at a revision: the commit it
// resolves to and the files at that commit.
type Revision struct {
	Commit string
	Files  []string
}

// Revision resolves rev (a branch, tag or commit) of a model repo, with
// the retry policy.
func (c *Client) Revision(ctx context.Context, repo, rev string) (Revision, error) {
	var body struct {
		SHA      string `json:"sha"`
		Siblings []struct {
			RFilename string `json:"rfilename"`
		} `json:"siblings"`
	}
	if err := c.hubGet(ctx, repo, "/api/models/"+modelPath(repo)+"/revision/"+url.PathEscape(rev), &body); err != nil {
		return Revision{}, err
	}
	r := Revision{Commit: body.SHA}
	for _, s := range body.Siblings {
		r.Files = append(r.Files, s.RFilename)
	}
	return r, nil
}

// FileMeta is a repo file's metadata, from the headers of a HEAD on its
// resolve URL, as huggingface_hub reads them.
type FileMeta struct {
	// ETag is X-Linked-Etag (the sha256 of LFS content) or ETag (the git
	// blob hash of small files), as sent.
	ETag string
	// Size is X-Linked-Size or Content-Length; -1 when neither was sent.
	Size int64
	// Location is where to GET the content: the CDN a redirect points
	// to, or the resolve URL itself.
	Location string
	// Commit is X-Repo-Commit, when sent.
	Commit string
}

// FileMeta asks for a file's metadata without following the redirect to
// the CDN (its headers are the point); redirects within the Hub are
// followed. Transient failures are retried with the policy.
func (c *Client) FileMeta(ctx context.Context, repo, commit, file string) (FileMeta, error) {
	u := c.hub() + "/" + modelPath(repo) + "/resolve/" + url.PathEscape(commit) + "/" + modelPath(file)
	noRedirect := *c.httpClient()
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	var meta FileMeta
	err := c.retry(ctx, repo, func() error {
		next := u
		for hops := 0; ; hops++ {
			req, err := http.NewRequestWithContext(ctx, http.MethodHead, next, nil)
			if err != nil {
				return permanent{err}
			}
			c.authorize(req)
			req.Header.Set("Accept-Encoding", "identity")
			resp, err := noRedirect.Do(req)
			if err != nil {
				return c.transportError(ctx, repo, next, err)
			}
			resp.Body.Close()
			loc := resp.Header.Get("Location")
			redirect := resp.StatusCode/100 == 3
			if redirect && loc != "" && hops < 5 && resp.Header.Get("X-Linked-Etag") == "" {
				if to, err := resp.Request.URL.Parse(loc); err == nil && to.Host == resp.Request.URL.Host {
					next = to.String() // a relative redirect: follow it for the headers
					continue
				}
			}
			if resp.StatusCode != http.StatusOK && !redirect {
				return newHTTPError(repo, stripQuery(next), resp, nil, c.redact)
			}
			meta = FileMeta{ETag: resp.Header.Get("X-Linked-Etag"), Size: -1, Location: next, Commit: resp.Header.Get("X-Repo-Commit")}
			if meta.ETag == "" {
				meta.ETag = resp.Header.Get("ETag")
			}
			for _, h := range []string{"X-Linked-Size", "Content-Length"} {
				if n, err := strconv.ParseInt(resp.Header.Get(h), 10, 64); err == nil {
					meta.Size = n
					break
				}
			}
			if redirect && loc != "" {
				to, err := resp.Request.URL.Parse(loc)
				if err != nil {
					return permanent{fmt.Errorf("%s: bad redirect %q", stripQuery(next), loc)}
				}
				meta.Location = to.String()
			}
			return nil
		}
	})
	return meta, err
}

// Open starts a GET of location (a resolve URL or the CDN it redirected
// to) from byte offset, for a caller that streams and resumes the body. A
// non-2xx answer is an *HTTPError. It is one attempt: resuming is the
// caller's loop.
func (c *Client) Open(ctx context.Context, location string, offset int64) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, location, nil)
	if err != nil {
		return nil, err
	}
	c.authorize(req)
	if offset > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return nil, c.transportError(ctx, "", location, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return nil, newHTTPError("", stripQuery(resp.Request.URL.String()), resp, b, c.redact)
	}
	return resp, nil
}

// transportError describes a failed round trip without the token or the
// URL's query (signed CDN URLs carry credentials there).
func (c *Client) transportError(ctx context.Context, model, u string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &TransportError{Model: model, URL: stripQuery(u), Err: errors.New(c.redact(err.Error()))}
}
