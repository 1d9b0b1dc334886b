package node

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/dynkv/dynkv/internal/store"
	"github.com/dynkv/dynkv/vclock"
)

// identity is what a data dir remembers about the node that owns it.
type identity struct {
	Name       string       `msgpack:"name"`
	Partitions int          `msgpack:"partitions"`
	N          int          `msgpack:"n"`
	Actor      vclock.Actor `msgpack:"actor"`
	// Incarnations counts the actor ids this data dir has had.
	Incarnations uint64 `msgpack:"incarnations"`
	// Counter is the last dot counter Actor issued, saved at a clean
	// shutdown; a new actor starts from zero.
	Counter uint64 `msgpack:"counter"`
}

const (
	metaIdentity = "identity"
	// metaClean is present only while the node is stopped after a clean
	// shutdown. Its absence at start means the last run crashed.
	metaClean = "clean"
)

// loadIdentity reads the data dir's identity, creating one on first start,
// and chooses this run's actor id.
//
// A new actor id is issued whenever the store may have lost acknowledged
// state: on a new (or wiped) data dir, and after a crash, since writes made
// without sync may be gone while replicas hold them. Reusing the old id then
// would issue dots that replicas already hold for other values, and their
// clocks would silently drop the new writes (Riak's KV679). A clean shutdown
// keeps the id, so clocks do not grow on every restart.
func loadIdentity(st *store.Store, cfg Config) (identity, bool, error) {
	raw, found, err := st.GetMeta(metaIdentity)
	if err != nil {
		return identity{}, false, err
	}
	var id identity
	if found {
		if err := unmarshalMsg(raw, &id); err != nil {
			return identity{}, false, fmt.Errorf("data dir identity is unreadable: %w", err)
		}
		if err := checkIdentity(id, cfg); err != nil {
			return identity{}, false, err
		}
	} else {
		id = identity{Name: cfg.Name, Partitions: cfg.Partitions, N: cfg.N}
	}
	_, clean, err := st.GetMeta(metaClean)
	if err != nil {
		return identity{}, false, err
	}
	rotated := !found || !clean
	if rotated {
		id.Actor = newActor()
		id.Incarnations++
		id.Counter = 0
	}
	if err := saveIdentity(st, id); err != nil {
		return identity{}, false, err
	}
	if clean {
		if err := st.DeleteMeta(metaClean); err != nil {
			return identity{}, false, err
		}
	}
	return id, rotated && found, nil
}

func checkIdentity(id identity, cfg Config) error {
	if id.Name != cfg.Name {
		return fmt.Errorf("data dir %s belongs to node %q, not %q: start with --name %s or use another --data-dir",
			cfg.DataDir, id.Name, cfg.Name, id.Name)
	}
	if id.Partitions != cfg.Partitions {
		return fmt.Errorf("data dir %s was created with --partitions %d; it cannot change (got %d)",
			cfg.DataDir, id.Partitions, cfg.Partitions)
	}
	if id.N != cfg.N {
		return fmt.Errorf("data dir %s was created with --n %d; changing N is not supported (got %d)",
			cfg.DataDir, id.N, cfg.N)
	}
	return nil
}

func saveIdentity(st *store.Store, id identity) error {
	raw, err := msgpack.Marshal(id)
	if err != nil {
		return err
	}
	return st.PutMeta(metaIdentity, raw)
}

// newActor returns a random non-zero actor id.
func newActor() vclock.Actor {
	var b [8]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			panic(fmt.Sprintf("crypto/rand failed: %v", err)) // never happens on Linux
		}
		if a := vclock.Actor(binary.LittleEndian.Uint64(b[:])); a != 0 {
			return a
		}
	}
}

// markClean records a clean shutdown and the actor's last dot counter, so
// the next start keeps the actor id and goes on counting from there.
func markClean(st *store.Store, counter uint64) error {
	raw, found, err := st.GetMeta(metaIdentity)
	if err != nil || !found {
		return fmt.Errorf("identity missing at shutdown: %v", err)
	}
	var id identity
	if err := unmarshalMsg(raw, &id); err != nil {
		return err
	}
	id.Counter = counter
	if err := saveIdentity(st, id); err != nil {
		return err
	}
	return st.PutMeta(metaClean, []byte{1})
}
