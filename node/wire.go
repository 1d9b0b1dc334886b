package node

import (
	"time"

	"github.com/dynkv/dynkv/quorum"
)

// RPC methods between nodes. Bodies are msgpack; a method's request and
// response types sit next to its number. Numbers are part of the wire
// protocol: never reuse one.
const (
	methodRead       uint8 = 1 // readReq → readResp
	methodWrite      uint8 = 2 // writeReq → empty
	methodCoordinate uint8 = 3 // coordinateReq → coordinateResp
	methodHandoff    uint8 = 4 // handoffReq → empty: delivered hints
	methodTreeNodes  uint8 = 5 // treeNodesReq → treeNodesResp: anti-entropy
	methodLeafKeys   uint8 = 6 // leafKeysReq → leafKeysResp: anti-entropy
	methodReap       uint8 = 7 // reapReq → empty: remove a confirmed tombstone
)

type treeNodesReq struct {
	Partition int   `msgpack:"p"`
	Level     int   `msgpack:"l"`
	Indices   []int `msgpack:"i"`
}

type treeNodesResp struct {
	Hashes []uint64 `msgpack:"h"`
}

type leafKeysReq struct {
	Partition int   `msgpack:"p"`
	Leaves    []int `msgpack:"l"`
}

type leafKeysResp struct {
	Keys map[string]uint64 `msgpack:"k"`
}

type reapReq struct {
	Partition int    `msgpack:"p"`
	Key       []byte `msgpack:"k"`
	Set       []byte `msgpack:"s"` // the tombstone, exactly as confirmed
}

type readReq struct {
	Partition int    `msgpack:"p"`
	Key       []byte `msgpack:"k"`
	HintFor   string `msgpack:"h"` // the reader is a fallback for this node: include its hint
}

type readResp struct {
	Found bool   `msgpack:"f"`
	Set   []byte `msgpack:"s"` // vclock.Set, as stored
}

type writeReq struct {
	Partition int    `msgpack:"p"`
	Key       []byte `msgpack:"k"`
	Set       []byte `msgpack:"s"`
	Sync      bool   `msgpack:"y"`
	HintFor   string `msgpack:"h"` // store as a hint for this node (a fallback write)
}

// handoffReq carries delivered hints; the target merges each into its
// replica and syncs once before answering.
type handoffReq struct {
	Items []handoffItem `msgpack:"i"`
}

type handoffItem struct {
	Partition int    `msgpack:"p"`
	Key       []byte `msgpack:"k"`
	Set       []byte `msgpack:"s"`
}

// coordinateReq asks a replica to coordinate a PUT or DELETE that reached a
// node holding no replica of the key.
type coordinateReq struct {
	Key         []byte `msgpack:"k"`
	Value       []byte `msgpack:"v"`
	ContentType string `msgpack:"ct"`
	Deleted     bool   `msgpack:"d"`
	Context     string `msgpack:"c"` // as the client sent it
	HasContext  bool   `msgpack:"hc"`
	W           int    `msgpack:"w"`
	PW          int    `msgpack:"pw"`
	Sync        bool   `msgpack:"y"`
	// Timeout is the coordinator's own deadline, a little shorter than the
	// forwarder's, so that a quorum failure comes back as such instead of
	// both sides timing out together.
	Timeout time.Duration `msgpack:"t"`
}

type coordinateResp struct {
	Context   string     `msgpack:"c"`
	Acked     int        `msgpack:"a"`
	Primaries int        `msgpack:"pa"`
	Fallbacks int        `msgpack:"fa"`
	Err       *wireError `msgpack:"e"`
}

// wireError carries a coordinator's failure back through a forward with
// enough structure for the HTTP layer to pick its status code.
type wireError struct {
	Msg     string        `msgpack:"m"`
	Quorum  *quorum.Error `msgpack:"q"`
	Unavail bool          `msgpack:"u"` // no replica could coordinate
}
