package server

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A redirect is followed only to addresses the first one could have
// named: a public host that redirects inside (to loopback, a cloud
// metadata service, a NAT64-mapped private address, another scheme) is
// refused before anything is sent there.
func TestRedirectToPrivateRefused(t *testing.T) {
	var reached atomic.Int64
	inside := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		io.WriteString(w, "bpm=120\ninside")
	}))
	defer inside.Close()
	_, insidePort, _ := strings.Cut(strings.TrimPrefix(inside.URL, "http://"), ":")
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if to := r.URL.Query().Get("to"); to != "" {
			http.Redirect(w, r, to, http.StatusFound)
			return
		}
		io.WriteString(w, "bpm=121\noutside")
	}))
	defer redirector.Close()

	ts := newTestServer(t, Options{}, nil)
	// The redirector stands for a public host: its own address passes,
	// every other is judged as the server judges it.
	public := netip.MustParseAddrPort(redirector.Listener.Addr().String())
	ts.srv.fetcher = newDownloader(30*time.Second, ts.srv.opts.MaxBodyBytes, func(ap netip.AddrPort) error {
		if ap == public {
			return nil
		}
		return publicOnly(ap)
	})
	analyze := func(u string) (int, []byte) {
		status, _, body := do(t, "POST", ts.URL+"/analyze", []byte(fmt.Sprintf(`{"url":%q}`, u)), nil)
		return status, body
	}
	if status, body := analyze(redirector.URL + "/song.mp3"); status != 200 {
		t.Fatalf("the public host itself: %d %s", status, body)
	}
	for to, why := range map[string]string{
		inside.URL + "/song.mp3":                                "loopback",
		"http://localhost:" + insidePort + "/song.mp3":          "loopback",
		"http://169.254.169.254/latest/meta-data/":              "link-local",
		"http://[64:ff9b::a9fe:a9fe]/latest/meta-data/":         "link-local",
		"http://[64:ff9b::7f00:1]:" + insidePort + "/song.mp3":  "loopback",
		"http://[::ffff:127.0.0.1]:" + insidePort + "/song.mp3": "loopback",
		"file:///etc/passwd":                                    "scheme",
	} {
		status, body := analyze(redirector.URL + "/r?to=" + urlQueryEscape(to))
		m := wantError(t, "redirect to "+to, status, body, http.StatusBadRequest, "url_not_allowed")
		if msg, _ := m["message"].(string); !strings.Contains(msg, why) {
			t.Errorf("redirect to %s: message %q does not say %q", to, msg, why)
		}
	}
	if n := reached.Load(); n != 0 {
		t.Errorf("the inside server was reached %d times", n)
	}
	if n := ts.fake.calls.Load(); n != 1 {
		t.Errorf("%d analyses, want only the public host's song", n)
	}
}

// Addresses TestBlockedAddr leaves out: IPv4 addresses behind the
// NAT64 prefix, and "this network".
func TestBlockedAddrMore(t *testing.T) {
	for addr, want := range map[string]string{
		"64:ff9b::7f00:1": "loopback", "64:ff9b::a9fe:a9fe": "link-local", "64:ff9b::c0a8:101": "private",
		"64:ff9b::808:808": "", "0.1.2.3": "unspecified", "64:ff9b::10.0.0.1": "private",
	} {
		if got := blockedAddr(netip.MustParseAddr(addr)); got != want {
			t.Errorf("blockedAddr(%s) = %q, want %q", addr, got, want)
		}
	}
}

// Downloads end: one that trickles for ever at the download timeout, one
// that streams for ever or announces too much at the size limit. Each
// answers 502 download_failed and gives back the room its bytes held.
func TestDownloadsEnd(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		switch r.URL.Path {
		case "/trickle":
			io.WriteString(w, "bpm=120\n")
			for {
				rc.Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(20 * time.Millisecond):
				}
				if _, err := io.WriteString(w, "x"); err != nil {
					return
				}
			}
		case "/flood":
			chunk := strings.Repeat("y", 32<<10)
			for {
				if _, err := io.WriteString(w, chunk); err != nil {
					return
				}
			}
		case "/announced":
			w.Header().Set("Content-Length", fmt.Sprint(4<<20))
			io.WriteString(w, "bpm=120\n")
		}
	}))
	defer upstream.Close()
	ts := newTestServer(t, Options{AllowPrivateURLs: true, MaxBodyBytes: 1 << 20, DownloadTimeout: 500 * time.Millisecond}, nil)
	for path, want := range map[string]string{
		"/trickle":   "Timeout",
		"/flood":     "larger than the limit",
		"/announced": "larger than the limit",
	} {
		status, _, body := do(t, "POST", ts.URL+"/analyze", []byte(fmt.Sprintf(`{"url":%q}`, upstream.URL+path)), nil)
		m := wantError(t, path, status, body, http.StatusBadGateway, "download_failed")
		if msg, _ := m["message"].(string); !strings.Contains(msg, want) {
			t.Errorf("%s: message %q does not say %q", path, msg, want)
		}
	}
	room := bodyRoom(ts.srv.opts.MaxBodyBytes, ts.srv.opts.MaxInFlight)
	if !ts.srv.bodies.TryAcquire(room) {
		t.Error("the failed downloads kept room")
	} else {
		ts.srv.bodies.Release(room)
	}
	if n := ts.fake.calls.Load(); n != 0 {
		t.Errorf("%d failed downloads were analysed", n)
	}
}

// A download still running when a shutdown's grace period ends is
// cancelled by the server, not failed by the remote host: its request is
// answered as every request cancelled under it is, 503 cancelled with
// Retry-After (the client may retry once the server is back), not 502
// download_failed, which blames the address the client gave.
func TestDownloadCancelledAtShutdown(t *testing.T) {
	upstream, started := stalledUpstream(t)
	srv, _, base, done := serveForTest(t, newFake(), Options{AllowPrivateURLs: true}, 100*time.Millisecond)
	type reply struct {
		status int
		header http.Header
		body   []byte
	}
	replied := make(chan reply, 1)
	go func() {
		status, h, body := do(t, "POST", base+"/analyze", []byte(fmt.Sprintf(`{"url":%q}`, upstream.URL+"/song")), nil)
		replied <- reply{status, h, body}
	}()
	<-started
	srv.RequestShutdown()
	select {
	case r := <-replied:
		wantError(t, "download cancelled at shutdown", r.status, r.body, http.StatusServiceUnavailable, "cancelled")
		if r.header.Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the request downloading at shutdown hung")
	}
	if err := <-done; err != nil {
		t.Errorf("Serve = %v, want nil", err)
	}
}

// stalledUpstream is a remote host that sends the start of a download,
// closes started, then sends nothing more until the download is dropped:
// a request for it stays in flight as long as the test needs.
func stalledUpstream(t *testing.T) (*httptest.Server, <-chan struct{}) {
	t.Helper()
	started := make(chan struct{})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "bpm=120\n")
		http.NewResponseController(w).Flush()
		close(started)
		<-r.Context().Done()
	}))
	t.Cleanup(upstream.Close)
	return upstream, started
}
