package node

import (
	"log/slog"
	"maps"
	"slices"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/hashicorp/memberlist"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/dynkv/dynkv/internal/store"
	"github.com/dynkv/dynkv/ring"
)

// fuzzMembership is a membership that is never started: no memberlist,
// only the state, its store and the broadcast queue the delegate uses.
func fuzzMembership(t testing.TB, st *store.Store) *membership {
	m := &membership{
		self:   "n1",
		rcfg:   ring.Config{Partitions: 64, N: 3},
		store:  st,
		logger: slog.New(slog.DiscardHandler),
		state:  ringState{"n1": {Name: "n1", Status: statusJoined, Gen: 1, RPCAddr: "n1:9000"}},
		queue:  &memberlist.TransmitLimitedQueue{NumNodes: func() int { return 3 }, RetransmitMult: 1},
	}
	if err := m.changed(); err != nil {
		t.Fatal(err)
	}
	return m
}

// FuzzGossip hands arbitrary bytes to the memberlist delegate as a gossip
// message, a push/pull state and a peer's node metadata. Nothing may
// panic; a message merged twice changes nothing the second time; the state
// survives being persisted and loaded as after a restart; the published
// ring is made of the state's owners; and peer metadata is accepted exactly
// when it decodes to this cluster's ring shape.
func FuzzGossip(f *testing.F) {
	for _, recs := range [][]memberRecord{
		{{Name: "n2", Status: statusJoined, Gen: 1, RPCAddr: "n2:9000"}},
		{{Name: "n2", Status: statusJoining, Gen: 2, Phase: 1, ChangeID: 2, Driver: "n2", Done: []int{1, 2}}},
		{{Name: "n1", Status: statusLeaving, Gen: 5, Driver: "n3"}},
		{{Name: "n1", Status: statusJoined, Gen: 9}},
		{{Name: "n3", Status: statusLeft, Gen: 1}, {Name: "n3", Status: statusJoined, Gen: 1}},
		{{Name: "", Status: statusJoined, Gen: 1}, {Name: "n4", Status: "bogus", Gen: 1 << 63}},
	} {
		b, err := msgpack.Marshal(recs)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, meta := range []nodeMeta{{Partitions: 64, N: 3, RPCAddr: "n2:9000"}, {Partitions: 32, N: 3}} {
		b, _ := msgpack.Marshal(meta)
		f.Add(b)
	}
	f.Add(hugeArray)
	f.Add([]byte{0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := store.Open(store.Config{Dir: "/db", FS: vfs.NewMem(), ValueCacheSize: -1})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		m := fuzzMembership(t, st)
		d := &delegate{m: m}
		d.NotifyMsg(b)
		once := maps.Clone(m.state)
		d.MergeRemoteState(b, false)
		if !maps.EqualFunc(once, m.state, sameRecord) {
			t.Fatalf("merging %x again changed the state:\n%+v\n%+v", b, once, m.state)
		}
		if got, want := m.current().ring.Members(), m.state.owners(); len(want) > 0 && !slices.Equal(got, want) {
			t.Fatalf("ring of %q, state owners %q", got, want)
		}

		restarted := &membership{self: m.self, rcfg: m.rcfg, store: st, logger: m.logger, state: ringState{}}
		if err := restarted.loadState(); err != nil {
			t.Fatalf("persisted state does not load: %v", err)
		}
		if !maps.EqualFunc(m.state, restarted.state, sameRecord) {
			t.Fatalf("state %+v reloads as %+v", m.state, restarted.state)
		}

		var meta nodeMeta
		wantOK := unmarshalMsg(b, &meta) == nil && meta.Partitions == 64 && meta.N == 3
		if err := d.checkPeer(&memberlist.Node{Name: "peer", Meta: b}); (err == nil) != wantOK {
			t.Fatalf("checkPeer(%x) = %v, meta %+v", b, err, meta)
		}
	})
}
