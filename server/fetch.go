package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"
)

// errURLNotAllowed is wrapped in download errors for URLs the server will
// not fetch: wrong scheme, or an address inside the host's networks.
var errURLNotAllowed = errors.New("url not allowed")

// errTooLarge is wrapped in download errors for bodies over the limit.
var errTooLarge = errors.New("download larger than the limit")

// blockedAddr reports why ip must not be fetched from, or "" if it may.
// Loopback, link-local (which holds cloud metadata services), private,
// shared (carrier-grade NAT), unspecified and multicast addresses all reach
// into the server's own networks.
func blockedAddr(ip netip.Addr) string {
	ip = ip.Unmap()
	if nat64.Contains(ip) {
		// A NAT64 gateway (common on IPv6-only networks) turns
		// 64:ff9b::a.b.c.d into a.b.c.d: judge the address it reaches.
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte(b[12:]))
	}
	switch {
	case ip.IsLoopback():
		return "loopback"
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		return "link-local"
	case ip.IsPrivate(), sharedNAT.Contains(ip):
		return "private"
	case ip.IsUnspecified(), thisNetwork.Contains(ip):
		return "unspecified"
	case ip.IsMulticast(), ip.IsInterfaceLocalMulticast():
		return "multicast"
	}
	return ""
}

// sharedNAT is RFC 6598's shared address space, private in practice.
var sharedNAT = netip.MustParsePrefix("100.64.0.0/10")

// thisNetwork is RFC 1122's "this network", 0.0.0.0/8: never a remote
// host, and some systems connect to it locally.
var thisNetwork = netip.MustParsePrefix("0.0.0.0/8")

// nat64 is RFC 6052's well-known NAT64 prefix, whose last 32 bits are an
// IPv4 address.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// dialCheck vets an address a download is about to connect to; an error
// stops the connection before a packet is sent.
type dialCheck func(netip.AddrPort) error

// publicOnly refuses the addresses blockedAddr names.
func publicOnly(ap netip.AddrPort) error {
	if why := blockedAddr(ap.Addr()); why != "" {
		return fmt.Errorf("%w: %s is a %s address", errURLNotAllowed, ap.Addr(), why)
	}
	return nil
}

// downloader fetches audio for /analyze. Its check runs on the address
// actually dialled, after DNS resolution and on every redirect, so neither
// a name that resolves inside nor a redirect to one gets through.
type downloader struct {
	client *http.Client
	limit  int64
}

// newDownloader returns a downloader whose dials check vets; nil lets
// every address through.
func newDownloader(timeout time.Duration, limit int64, check dialCheck) *downloader {
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	if check != nil {
		dialer.Control = func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: cannot parse dialled address %q", errURLNotAllowed, address)
			}
			return check(ap)
		}
	}
	transport := &http.Transport{
		Proxy:                 nil, // a proxy would dial on our behalf, past the check
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       30 * time.Second,
	}
	client := &http.Client{
		Transport: transport,
		Timeout:   timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("too many redirects")
			}
			return checkScheme(req.URL)
		},
	}
	return &downloader{client: client, limit: limit}
}

func checkScheme(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%w: scheme %q (only http and https)", errURLNotAllowed, u.Scheme)
	}
	if u.Host == "" {
		return fmt.Errorf("%w: no host", errURLNotAllowed)
	}
	return nil
}

// shownURL is u as logs and error messages show it: scheme, host and path
// only. Preview addresses carry signed tokens in their query string (and
// some carry credentials as userinfo); in a log, anyone who reads it could
// replay them. The fragment goes too: it is the client's, never sent.
func shownURL(u *url.URL) string {
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}).String()
}

// shownRawURL is shownURL of rawURL; an address that does not parse is
// not shown at all, since where its query starts is anyone's guess.
func shownRawURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(an unparsable address)"
	}
	return shownURL(u)
}

// hideURL cuts the address in the *url.Error inside err, if any, to its
// shown form: net/http names the whole address it failed on, query and
// all, and on a redirect that is the address redirected to.
func hideURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = shownRawURL(ue.URL)
	}
	return err
}

// fetch downloads rawURL's body, at most the limit, reading it through
// wrap (the server's room accounting, see roomReader). Its errors show
// the address only as shownURL does.
func (d *downloader) fetch(ctx context.Context, rawURL string, wrap func(io.Reader) io.Reader) ([]byte, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Parse's error repeats the whole address: give only why.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%w: not a URL: %v", errURLNotAllowed, err)
	}
	if err := checkScheme(u); err != nil {
		return nil, err
	}
	shown := shownURL(u)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", shown, hideURL(err))
	}
	req.Header.Set("User-Agent", "songflow")
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", shown, hideURL(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("download %s: HTTP %s", shown, resp.Status)
	}
	if resp.ContentLength > d.limit {
		return nil, fmt.Errorf("download %s: %w (%d > %d bytes)", shown, errTooLarge, resp.ContentLength, d.limit)
	}
	data, err := io.ReadAll(io.LimitReader(wrap(resp.Body), d.limit+1))
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", shown, hideURL(err))
	}
	if int64(len(data)) > d.limit {
		return nil, fmt.Errorf("download %s: %w (%d bytes)", shown, errTooLarge, d.limit)
	}
	return data, nil
}
