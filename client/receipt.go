package client

import (
	"fmt"
	"strconv"
	"strings"
)

// Receipt is what the quorum saw for one request, from the X-Dynkv-Replicas
// header. Writes fill Acked, reads fill Replied, Siblings and Repaired.
type Receipt struct {
	Replied   int // replicas that answered a read
	Acked     int // replicas that acknowledged a write
	Primaries int // of those, replicas from the key's preference list
	Fallbacks int // of those, fallback replicas standing in for a down primary
	Siblings  int // concurrent versions the read returned
	Repaired  int // replicas the read sent a read repair to
}

// String formats the receipt the way the server writes the header: the read
// form when the receipt is a read's, the write form otherwise.
func (r Receipt) String() string {
	if r.Replied > 0 || r.Siblings > 0 || r.Repaired > 0 {
		return fmt.Sprintf("replied=%d; primaries=%d; fallbacks=%d; siblings=%d; repaired=%d",
			r.Replied, r.Primaries, r.Fallbacks, r.Siblings, r.Repaired)
	}
	return fmt.Sprintf("acked=%d; primaries=%d; fallbacks=%d", r.Acked, r.Primaries, r.Fallbacks)
}

// receiptFields maps each header field to the Receipt field it fills.
var receiptFields = map[string]func(*Receipt) *int{
	"replied":   func(r *Receipt) *int { return &r.Replied },
	"acked":     func(r *Receipt) *int { return &r.Acked },
	"primaries": func(r *Receipt) *int { return &r.Primaries },
	"fallbacks": func(r *Receipt) *int { return &r.Fallbacks },
	"siblings":  func(r *Receipt) *int { return &r.Siblings },
	"repaired":  func(r *Receipt) *int { return &r.Repaired },
}

// parseReceipt reads "acked=2; primaries=2; fallbacks=0" in any order and
// spacing. Unknown fields are ignored so the server can add some; anything
// malformed (no '=', a non-number, a negative or repeated field) yields the
// zero Receipt, because a receipt is informational and must never fail a
// request that succeeded.
func parseReceipt(h string) Receipt {
	var r Receipt
	seen := make(map[string]bool)
	for part := range strings.SplitSeq(h, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, val, ok := strings.Cut(part, "=")
		name = strings.ToLower(strings.TrimSpace(name))
		if !ok || name == "" || seen[name] {
			return Receipt{}
		}
		seen[name] = true
		n, err := strconv.Atoi(strings.TrimSpace(val))
		if err != nil || n < 0 {
			return Receipt{}
		}
		if field, known := receiptFields[name]; known {
			*field(&r) = n
		}
	}
	return r
}
