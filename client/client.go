package client

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

const (
	headerContext = "X-Dynkv-Context"
	headerReceipt = "X-Dynkv-Replicas"
	// headerForm: raw in a GET asks for the raw form of the answer even
	// with Accept: application/json; the node marks a raw answer with it.
	headerForm     = "X-Dynkv-Form"
	formRaw        = "raw"
	maxKeyBytes    = 1024
	defaultAddress = "127.0.0.1:8001"

	// dialBackoff is how long an endpoint that refused a connection is tried
	// last, so that a dead node does not cost every request a failed dial.
	dialBackoff = time.Second
	// dialTimeout bounds one connection attempt of the default HTTP client:
	// a black-holed node should leave time to fail over within the caller's
	// deadline.
	dialTimeout = 3 * time.Second
	// maxIdlePerHost keeps a connection per concurrent caller alive; the
	// net/http default of 2 would reconnect constantly under load.
	maxIdlePerHost = 256
)

// Config configures a Client.
type Config struct {
	// Endpoints are the nodes to talk to, as "host:port" or full http:// or
	// https:// URLs (a path prefix is kept, for proxies). Any node answers
	// any key; at least one is required.
	Endpoints []string
	// HTTPClient sends the requests. Nil selects a default tuned for many
	// concurrent callers, with keep-alives and no overall timeout: the ctx
	// of each call bounds it. Redirects are never followed, whatever the
	// client's CheckRedirect says, so a write is never replayed elsewhere.
	HTTPClient *http.Client
	// Logger receives failover events. Nil discards them.
	Logger *slog.Logger
	// Token, if set, is sent as "Authorization: Bearer <Token>" with every
	// request, for nodes started with --auth-token-file (or, for admin
	// calls, --admin-token-file).
	Token string
	// CAFile, if set, names a PEM file of the CA certificates that sign the
	// nodes' certificates, for https:// endpoints of nodes started with
	// --tls-cert (a private CA the system does not trust). TLS, if set, is
	// the TLS config to start from (client certificates, ServerName). Both
	// apply to the default HTTP client only: with HTTPClient set, configure
	// its transport instead. Certificate failures match ErrTLS.
	CAFile string
	TLS    *tls.Config
}

// DefaultConfig returns a Config for a single local node (the first node of
// `dynkv dev`).
func DefaultConfig() Config {
	return Config{Endpoints: []string{defaultAddress}}
}

// Client talks to a dynkv cluster over HTTP. It is safe for concurrent use.
type Client struct {
	endpoints []*endpoint
	http      *http.Client
	auth      string // the Authorization header, if any
	log       *slog.Logger
	next      atomic.Uint64 // rotates the first endpoint tried, to spread load
	now       func() time.Time
}

// endpoint is one node; downUntil (unix nanoseconds) is set after a failed dial.
type endpoint struct {
	name      string // as configured, for errors
	base      string // scheme://host[:port][/prefix], no trailing slash
	downUntil atomic.Int64
}

// New checks cfg and returns a Client. Call Close when done with it.
func New(cfg Config) (*Client, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("dynkv: no endpoints: give at least one host:port")
	}
	c := &Client{http: newHTTPClient(cfg.HTTPClient), log: cfg.Logger, now: time.Now}
	if cfg.Token != "" {
		c.auth = "Bearer " + cfg.Token
	}
	if err := c.setTLS(cfg); err != nil {
		return nil, err
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.log = c.log.With("subsystem", "client")
	for _, s := range cfg.Endpoints {
		base, err := parseEndpoint(s)
		if err != nil {
			return nil, err
		}
		c.endpoints = append(c.endpoints, &endpoint{name: strings.TrimSpace(s), base: base})
	}
	return c, nil
}

// Close closes the idle connections of the client's transport (which a
// Config.HTTPClient may share with other users). The Client must not be used
// afterwards.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// newHTTPClient copies the caller's client (or builds the default) and turns
// off redirects: net/http would replay a redirected PUT as a GET.
func newHTTPClient(hc *http.Client) *http.Client {
	var out http.Client
	if hc != nil {
		out = *hc
	} else {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.DialContext = (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext
		t.MaxIdleConns = 4 * maxIdlePerHost
		t.MaxIdleConnsPerHost = maxIdlePerHost
		out.Transport = t
	}
	out.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &out
}

// parseEndpoint turns "host:port" or a URL into a base URL.
func parseEndpoint(s string) (string, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "://") {
		return parseEndpointURL(s)
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", fmt.Errorf("dynkv: endpoint %q: want host:port (e.g. 127.0.0.1:8001): %v", s, err)
	}
	if host == "" {
		return "", fmt.Errorf("dynkv: endpoint %q: missing host (e.g. 127.0.0.1%s)", s, s)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return "", fmt.Errorf("dynkv: endpoint %q: port %q is not a number in 1..65535", s, port)
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

func parseEndpointURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("dynkv: endpoint %q: %v", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("dynkv: endpoint %q: scheme must be http or https", s)
	}
	if u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("dynkv: endpoint %q: want scheme://host:port with no query, fragment or user", s)
	}
	return u.Scheme + "://" + u.Host + strings.TrimSuffix(u.EscapedPath(), "/"), nil
}

// order returns the endpoints in the order to try them: from a rotating start
// (or the first, when rotate is false), endpoints whose dial recently failed
// last, so they are still tried when everything else fails.
func (c *Client) order(rotate bool) []*endpoint {
	n := len(c.endpoints)
	start := 0
	if rotate {
		start = int((c.next.Add(1) - 1) % uint64(n))
	}
	now := c.now().UnixNano()
	up := make([]*endpoint, 0, n)
	var down []*endpoint
	for i := range n {
		ep := c.endpoints[(start+i)%n]
		if ep.downUntil.Load() > now {
			down = append(down, ep)
		} else {
			up = append(up, ep)
		}
	}
	return append(up, down...)
}

func (c *Client) markDown(ep *endpoint, err error) {
	ep.downUntil.Store(c.now().Add(dialBackoff).UnixNano())
	c.log.Warn("endpoint unreachable, failing over", "endpoint", ep.name, "err", err)
}

func (c *Client) markUp(ep *endpoint) {
	if ep.downUntil.Load() != 0 {
		ep.downUntil.Store(0)
	}
}

// isDialError reports a failure to establish the connection: the request
// was never sent, so even a write can be retried elsewhere.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && (op.Op == "dial" || op.Op == "proxyconnect")
}
