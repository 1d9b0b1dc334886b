package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/dynkv/dynkv/client"
)

const (
	clientDefaultEndpoints = "127.0.0.1:8001"
	clientEndpointsEnv     = "DYNKV_ENDPOINTS"
	clientTokenEnv         = "DYNKV_TOKEN_FILE"
	clientCAEnv            = "DYNKV_CA_FILE"
	// clientMaxStdinValue bounds `put KEY -`: far above any node's value limit,
	// so the node reports the real limit, but a runaway pipe cannot eat memory.
	clientMaxStdinValue = 64 << 20
)

// clientReqFlags holds the per-request flags; only those the user set become
// client options, so the node's defaults apply otherwise.
type clientReqFlags struct {
	r, pr, w, pw         int
	sync                 bool
	timeout              time.Duration
	context, contentType string
}

func (f *clientReqFlags) options(fs *pflag.FlagSet) []client.Option {
	var opts []client.Option
	add := func(name string, o client.Option) {
		if fs.Changed(name) {
			opts = append(opts, o)
		}
	}
	add("r", client.R(f.r))
	add("pr", client.PR(f.pr))
	add("w", client.W(f.w))
	add("pw", client.PW(f.pw))
	add("sync", client.Sync(f.sync))
	add("timeout", client.Timeout(f.timeout))
	add("context", client.WithContext(f.context))
	add("content-type", client.ContentType(f.contentType))
	return opts
}

func (f *clientReqFlags) addWrite(fs *pflag.FlagSet) {
	fs.IntVar(&f.w, "w", 0, "replicas that must acknowledge the write (default: the node's --w)")
	fs.IntVar(&f.pw, "pw", 0, "primary (non-fallback) replicas that must acknowledge")
	fs.BoolVar(&f.sync, "sync", false, "acknowledge only writes that are on disk (fsync)")
	fs.DurationVar(&f.timeout, "timeout", 0, "how long the node waits for the quorum, e.g. 500ms")
	fs.StringVar(&f.context, "context", "", "context of an earlier read: the versions this write supersedes")
}

// newClientFlagSet returns the flag set of one client command, with
// --endpoints (default from $DYNKV_ENDPOINTS).
func newClientFlagSet(name, synopsis string, stderr io.Writer) (*pflag.FlagSet, *string) {
	fs := pflag.NewFlagSet("dynkv "+name, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.SortFlags = false
	def := os.Getenv(clientEndpointsEnv)
	if def == "" {
		def = clientDefaultEndpoints
	}
	endpoints := fs.String("endpoints", def, "comma-separated host:port or http(s):// URLs of any nodes (env "+clientEndpointsEnv+")")
	fs.String("token-file", os.Getenv(clientTokenEnv), "file holding the bearer token of nodes started with --auth-token-file (leave and remove: --admin-token-file) (env "+clientTokenEnv+")")
	fs.String("ca-file", os.Getenv(clientCAEnv), "PEM CA certificate(s) that signed the nodes' certificates, for https:// endpoints (env "+clientCAEnv+")")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: dynkv %s [flags] %s\n\nFlags:\n%s", name, synopsis, fs.FlagUsages())
	}
	return fs, endpoints
}

// parseClientArgs parses the flags and checks there are nargs arguments. It
// returns the arguments, or ok == false and the exit code when the command
// must stop.
func parseClientArgs(fs *pflag.FlagSet, name string, args []string, nargs int, stderr io.Writer) (pos []string, code int, ok bool) {
	err := fs.Parse(args)
	if errors.Is(err, pflag.ErrHelp) {
		return nil, 0, false // pflag printed the usage
	}
	if err == nil && fs.NArg() != nargs {
		err = fmt.Errorf("want %d argument(s), got %d", nargs, fs.NArg())
	}
	if err != nil {
		fmt.Fprintf(stderr, "dynkv %s: %v\n", name, err)
		fs.Usage()
		return nil, 2, false
	}
	return fs.Args(), 0, true
}

// newCmdClient builds the client from --endpoints, or reports a malformed
// list as bad usage and returns nil and the exit code.
// cmdToken reads the token named by the flag set's --token-file, if any.
func cmdToken(fs *pflag.FlagSet) (string, error) {
	f := fs.Lookup("token-file")
	if f == nil || f.Value.String() == "" {
		return "", nil
	}
	tok, err := readToken(f.Value.String())
	if err != nil {
		return "", fmt.Errorf("--token-file: %w", err)
	}
	return tok, nil
}

func newCmdClient(name string, fs *pflag.FlagSet, stderr io.Writer) (*client.Client, int) {
	endpoints := fs.Lookup("endpoints").Value.String()
	token, err := cmdToken(fs)
	if err != nil {
		fmt.Fprintf(stderr, "dynkv %s: %v\n", name, err)
		return nil, 2
	}
	var eps []string
	for e := range strings.SplitSeq(endpoints, ",") {
		if e = strings.TrimSpace(e); e != "" {
			eps = append(eps, e)
		}
	}
	c, err := client.New(client.Config{Endpoints: eps, Token: token, CAFile: fs.Lookup("ca-file").Value.String()})
	if err != nil {
		fmt.Fprintf(stderr, "dynkv %s: %s\n", name, strings.TrimPrefix(err.Error(), "dynkv: "))
		return nil, 2
	}
	return c, 0
}

// clientCmdFail reports err and returns the exit code: 2 when the client
// refused the request itself (bad usage), 1 when a node or the network
// failed it.
func clientCmdFail(stderr io.Writer, name string, err error) int {
	fmt.Fprintf(stderr, "dynkv %s: %s\n", name, strings.TrimPrefix(err.Error(), "dynkv: "))
	var answered *client.Error
	if errors.Is(err, client.ErrBadRequest) && !errors.As(err, &answered) {
		return 2
	}
	return 1
}

func runGet(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs, _ := newClientFlagSet("get", "KEY", stderr)
	var rf clientReqFlags
	fs.IntVar(&rf.r, "r", 0, "replicas that must answer (default: the node's --r)")
	fs.IntVar(&rf.pr, "pr", 0, "primary (non-fallback) replicas that must answer")
	fs.DurationVar(&rf.timeout, "timeout", 0, "how long the node waits for the quorum, e.g. 500ms")
	asJSON := fs.Bool("json", false, `print {"context", "siblings": [{"value": base64, "content_type"}]}`)
	pos, code, ok := parseClientArgs(fs, "get", args, 1, stderr)
	if !ok {
		return code
	}
	c, code := newCmdClient("get", fs, stderr)
	if c == nil {
		return code
	}
	defer c.Close()
	obj, err := c.Get(ctx, pos[0], rf.options(fs)...)
	switch {
	case errors.Is(err, client.ErrNotFound):
		printNotFound(stderr, pos[0], err)
		return 1
	case err != nil:
		return clientCmdFail(stderr, "get", err)
	case *asJSON:
		return printObjectJSON(stdout, stderr, obj)
	}
	printObject(stdout, stderr, obj)
	return 0
}

func printNotFound(stderr io.Writer, key string, err error) {
	fmt.Fprintf(stderr, "dynkv get: %q not found\n", key)
	var e *client.Error
	if errors.As(err, &e) && e.Context != "" {
		fmt.Fprintf(stderr, "context: %s (the key was deleted; writing with it supersedes the delete)\n", e.Context)
	}
}

// printObject writes the value raw, or every sibling under a header line,
// and the context on stderr so that stdout holds only the value.
func printObject(stdout, stderr io.Writer, obj *client.Object) {
	if !obj.Conflict() {
		_, _ = stdout.Write(obj.Value())
		fmt.Fprintf(stderr, "context: %s\n", obj.Context)
		return
	}
	for i, s := range obj.Siblings {
		fmt.Fprintf(stdout, "--- sibling %d (%s) ---\n", i+1, s.ContentType)
		_, _ = stdout.Write(s.Value)
		if !bytes.HasSuffix(s.Value, []byte("\n")) {
			fmt.Fprintln(stdout)
		}
	}
	fmt.Fprintf(stderr, "context: %s\n", obj.Context)
	fmt.Fprintf(stderr, "%d siblings: resolve by writing with --context %s\n", len(obj.Siblings), obj.Context)
}

// printObjectJSON writes the HTTP API's JSON form of a read.
func printObjectJSON(stdout, stderr io.Writer, obj *client.Object) int {
	type sibling struct {
		Value       []byte `json:"value"`
		ContentType string `json:"content_type"`
	}
	doc := struct {
		Context  string    `json:"context"`
		Siblings []sibling `json:"siblings"`
	}{Context: obj.Context}
	for _, s := range obj.Siblings {
		doc.Siblings = append(doc.Siblings, sibling(s))
	}
	if err := json.NewEncoder(stdout).Encode(doc); err != nil {
		return clientCmdFail(stderr, "get", err)
	}
	return 0
}

func runPut(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs, _ := newClientFlagSet("put", "KEY VALUE   (VALUE '-' reads stdin; put -- before a VALUE starting with '-')", stderr)
	var rf clientReqFlags
	rf.addWrite(fs)
	fs.StringVar(&rf.contentType, "content-type", "", "Content-Type stored with the value (default application/octet-stream)")
	pos, code, ok := parseClientArgs(fs, "put", args, 2, stderr)
	if !ok {
		return code
	}
	value, err := readPutValue(pos[1], stdin)
	if err != nil {
		return clientCmdFail(stderr, "put", err)
	}
	c, code := newCmdClient("put", fs, stderr)
	if c == nil {
		return code
	}
	defer c.Close()
	res, err := c.Put(ctx, pos[0], value, rf.options(fs)...)
	if err != nil {
		return clientCmdFail(stderr, "put", err)
	}
	printWriteResult(stdout, res)
	return 0
}

// readPutValue returns arg, or all of stdin when arg is "-".
func readPutValue(arg string, stdin io.Reader) ([]byte, error) {
	if arg != "-" {
		return []byte(arg), nil
	}
	value, err := io.ReadAll(io.LimitReader(stdin, clientMaxStdinValue+1))
	if err != nil {
		return nil, fmt.Errorf("reading the value from stdin: %w", err)
	}
	if len(value) > clientMaxStdinValue {
		return nil, fmt.Errorf("the value on stdin is over %d MiB", clientMaxStdinValue>>20)
	}
	return value, nil
}

func runDelete(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs, _ := newClientFlagSet("delete", "KEY", stderr)
	var rf clientReqFlags
	rf.addWrite(fs)
	pos, code, ok := parseClientArgs(fs, "delete", args, 1, stderr)
	if !ok {
		return code
	}
	c, code := newCmdClient("delete", fs, stderr)
	if c == nil {
		return code
	}
	defer c.Close()
	res, err := c.Delete(ctx, pos[0], rf.options(fs)...)
	if err != nil {
		return clientCmdFail(stderr, "delete", err)
	}
	printWriteResult(stdout, res)
	return 0
}

func printWriteResult(stdout io.Writer, res *client.WriteResult) {
	fmt.Fprintln(stdout, "ok")
	fmt.Fprintf(stdout, "context: %s\n", res.Context)
	if res.Receipt != (client.Receipt{}) {
		fmt.Fprintf(stdout, "replicas: %s\n", res.Receipt)
	}
}

func runStatus(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs, _ := newClientFlagSet("status", "", stderr)
	asJSON := fs.Bool("json", false, "print the node's status document as JSON")
	if _, code, ok := parseClientArgs(fs, "status", args, 0, stderr); !ok {
		return code
	}
	c, code := newCmdClient("status", fs, stderr)
	if c == nil {
		return code
	}
	defer c.Close()
	st, err := c.Status(ctx)
	if err != nil {
		return clientCmdFail(stderr, "status", err)
	}
	if *asJSON {
		printStatusJSON(stdout, st.Raw)
		return 0
	}
	printStatus(stdout, st)
	return 0
}

// printStatusJSON indents the document as the node sent it, unknown fields
// included.
func printStatusJSON(stdout io.Writer, raw []byte) {
	var buf bytes.Buffer
	if json.Indent(&buf, raw, "", "  ") != nil {
		buf.Reset()
		buf.Write(raw)
	}
	if !bytes.HasSuffix(buf.Bytes(), []byte("\n")) {
		buf.WriteByte('\n')
	}
	_, _ = stdout.Write(buf.Bytes())
}

func printStatus(stdout io.Writer, st *client.Status) {
	fmt.Fprintf(stdout, "node: %s (version %s)\n", st.Node, st.Version)
	fmt.Fprintf(stdout, "n=%d r=%d w=%d partitions=%d\n\n", st.N, st.R, st.W, st.Partitions)
	var rs ringStatus // the ring-change fields, read from the raw document
	_ = json.Unmarshal(st.Raw, &rs)
	ring := map[string][2]any{}
	for _, m := range rs.Members {
		if m.RingState != "" {
			ring[m.Name] = [2]any{m.RingState, m.PartitionsAfter}
		}
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tRING\tHTTP ADDR\tPARTITIONS\tAFTER CHANGE\tHINTS FOR IT HERE")
	for _, m := range st.Members {
		r, ok := ring[m.Name]
		if !ok {
			r = [2]any{"-", "-"} // a node from before ring states
		}
		addr := m.HTTPAddr
		if m.HTTPScheme == "https" {
			addr = "https://" + addr
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%d\t%v\t%d\n", m.Name, m.State, r[0], addr, m.PartitionsOwned, r[1], st.HintsPendingByTarget[m.Name])
	}
	_ = tw.Flush()
	fmt.Fprintf(stdout, "\nhints pending on %s: %d\n", st.Node, st.HintsPending)
	if st.Storage != "" && st.Storage != "ok" {
		fmt.Fprintf(stdout, "storage on %s: %s: it refuses writes (507) and serves reads\n", st.Node, st.Storage)
	}
	if c := rs.RingChange; c != nil {
		fmt.Fprintf(stdout, "ring change: %s of %s (driver %s), %s\n  %s\n", c.Kind, c.Member, c.Driver, c.Phase,
			progressBar(c.Done, c.Partitions, humanBytes(c.MovedBytes)+" moved"))
		fmt.Fprintf(stdout, "  partitions still to move to or from %s: %d", st.Node, rs.TransfersPending)
		if rs.TransferRate > 0 {
			fmt.Fprintf(stdout, ", at %s/s", humanBytes(int64(rs.TransferRate)))
		}
		fmt.Fprintln(stdout)
		if len(c.Queued) > 0 {
			fmt.Fprintf(stdout, "  queued: %s\n", strings.Join(c.Queued, ", "))
		}
	}
}
