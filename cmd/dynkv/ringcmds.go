package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// dynkv leave and dynkv remove: ring changes through a node's admin API,
// followed to completion with a progress bar.

// ringStatus is the part of the status document the ring commands read.
type ringStatus struct {
	Node    string `json:"node"`
	Members []struct {
		Name            string `json:"name"`
		State           string `json:"state"`
		RingState       string `json:"ring_state"`
		PartitionsOwned int    `json:"partitions_owned"`
		PartitionsAfter int    `json:"partitions_after"`
	} `json:"members"`
	TransfersPending int     `json:"transfers_pending"`
	TransferRate     float64 `json:"transfer_rate_bytes_per_sec"`
	RingChange       *struct {
		Member     string   `json:"member"`
		Kind       string   `json:"kind"`
		Driver     string   `json:"driver"`
		Phase      string   `json:"phase"`
		Partitions int      `json:"partitions"`
		Done       int      `json:"partitions_done"`
		MovedBytes int64    `json:"moved_bytes"`
		Queued     []string `json:"queued"`
	} `json:"ring_change"`
}

func (s *ringStatus) ringState(name string) string {
	for _, m := range s.Members {
		if m.Name == name {
			return m.RingState
		}
	}
	return ""
}

func runLeave(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs, endpoints := newClientFlagSet("leave", "", stderr)
	wait := fs.Bool("wait", true, "follow the handoff until the node has left (a progress bar on stderr)")
	if _, code, ok := parseClientArgs(fs, "leave", args, 0, stderr); !ok {
		return code
	}
	ep, err := singleEndpoint(*endpoints)
	if err != nil {
		fmt.Fprintf(stderr, "dynkv leave: %v: --endpoints names the node that leaves\n", err)
		return 2
	}
	token, err := cmdToken(fs)
	if err != nil {
		fmt.Fprintf(stderr, "dynkv leave: %v\n", err)
		return 2
	}
	hc, err := cmdHTTPClient(fs)
	if err != nil {
		fmt.Fprintf(stderr, "dynkv leave: %v\n", err)
		return 2
	}
	before, err := fetchRingStatus(ctx, hc, ep, token)
	if err != nil {
		fmt.Fprintf(stderr, "dynkv leave: %v\n", err)
		return 1
	}
	if err := adminPost(ctx, hc, ep, "/admin/leave", token); err != nil {
		fmt.Fprintf(stderr, "dynkv leave: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s is leaving the ring: handing its partitions to their new owners\n", before.Node)
	if !*wait {
		return 0
	}
	return followChange(ctx, hc, ep, token, before.Node, stdout, stderr, "leave")
}

func runRemove(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs, endpoints := newClientFlagSet("remove", "NODE", stderr)
	wait := fs.Bool("wait", true, "follow the rebuild until NODE is out of the ring (a progress bar on stderr)")
	pos, code, ok := parseClientArgs(fs, "remove", args, 1, stderr)
	if !ok {
		return code
	}
	ep, err := singleEndpoint(*endpoints)
	if err != nil {
		fmt.Fprintf(stderr, "dynkv remove: %v: --endpoints names the node that drives the removal\n", err)
		return 2
	}
	token, err := cmdToken(fs)
	if err != nil {
		fmt.Fprintf(stderr, "dynkv remove: %v\n", err)
		return 2
	}
	hc, err := cmdHTTPClient(fs)
	if err != nil {
		fmt.Fprintf(stderr, "dynkv remove: %v\n", err)
		return 2
	}
	node := pos[0]
	if err := adminPost(ctx, hc, ep, "/admin/remove/"+url.PathEscape(node), token); err != nil {
		fmt.Fprintf(stderr, "dynkv remove: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "removing %s: its partitions are rebuilt on their new owners from the surviving replicas\n", node)
	if !*wait {
		return 0
	}
	return followChange(ctx, hc, ep, token, node, stdout, stderr, "remove")
}

// followChange polls ep's status until member has left the ring, drawing
// the transfer's progress. A node that leaves stops answering at the end;
// that counts as done once it was last seen handing over.
func followChange(ctx context.Context, hc *http.Client, ep, token, member string, stdout, stderr io.Writer, what string) int {
	lastPhase := ""
	for {
		st, err := fetchRingStatus(ctx, hc, ep, token)
		switch {
		case err != nil && (lastPhase == "handing over" || lastPhase == "done"):
			fmt.Fprintf(stderr, "\n")
			fmt.Fprintf(stdout, "%s has left the ring\n", member)
			return 0
		case err != nil && ctx.Err() != nil:
			fmt.Fprintf(stderr, "\ndynkv %s: stopped following: %v (the change goes on)\n", what, ctx.Err())
			return 1
		case err != nil:
			fmt.Fprintf(stderr, "\ndynkv %s: %v\n", what, err)
			return 1
		}
		if st.ringState(member) == "left" {
			fmt.Fprintf(stderr, "\r%s\n", progressBar(1, 1, "done"))
			fmt.Fprintf(stdout, "%s has left the ring\n", member)
			return 0
		}
		if c := st.RingChange; c != nil && c.Member == member {
			lastPhase = c.Phase
			fmt.Fprintf(stderr, "\r%s", progressBar(c.Done, c.Partitions, fmt.Sprintf("%s, %s moved", c.Phase, humanBytes(c.MovedBytes))))
		} else if c != nil {
			fmt.Fprintf(stderr, "\rqueued behind the %s of %s", c.Kind, c.Member)
		}
		select {
		case <-ctx.Done():
			fmt.Fprintf(stderr, "\ndynkv %s: stopped following (the change goes on; see dynkv status)\n", what)
			return 1
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// progressBar draws done of total as a 30-column bar.
func progressBar(done, total int, note string) string {
	const width = 30
	filled := width
	if total > 0 {
		filled = min(width, done*width/total)
	}
	return fmt.Sprintf("[%s%s] %d/%d partitions  %s", strings.Repeat("#", filled), strings.Repeat(".", width-filled), done, total, note)
}

func humanBytes(b int64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%d B", b)
}

func singleEndpoint(endpoints string) (string, error) {
	var eps []string
	for e := range strings.SplitSeq(endpoints, ",") {
		if e = strings.TrimSpace(e); e != "" {
			eps = append(eps, e)
		}
	}
	if len(eps) != 1 {
		return "", fmt.Errorf("want exactly one endpoint, got %d", len(eps))
	}
	return eps[0], nil
}

var cmdHTTP = &http.Client{Timeout: 10 * time.Second}

func adminPost(ctx context.Context, hc *http.Client, ep, path, token string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, nodeURL(ep)+path, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<16))
	if res.StatusCode == http.StatusAccepted {
		return nil
	}
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return errors.New(e.Error)
	}
	return fmt.Errorf("%s: %s", res.Status, strings.TrimSpace(string(body)))
}

func fetchRingStatus(ctx context.Context, hc *http.Client, ep string, token ...string) (*ringStatus, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, nodeURL(ep)+"/status", nil)
	if err != nil {
		return nil, err
	}
	if len(token) > 0 && token[0] != "" {
		req.Header.Set("Authorization", "Bearer "+token[0])
	}
	res, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status of %s: %s", ep, res.Status)
	}
	var st ringStatus
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
		return nil, fmt.Errorf("status of %s: %w", ep, err)
	}
	return &st, nil
}
