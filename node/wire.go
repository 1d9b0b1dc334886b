package node

import (
	"encoding/binary"
	"math"
	"time"

	"github.com/vmihailenco/msgpack/v5/msgpcode"

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
	// Hops counts the forwards so far: during a ring change a node whose
	// view is newer than the forwarder's forwards once more, by its view.
	Hops int `msgpack:"h,omitempty"`
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
	// Siblings: the write was refused for too many siblings (409).
	Siblings *TooManySiblingsError `msgpack:"ts,omitempty"`
	// Storage: the coordinator's store refused the write before storing
	// it (disk full or failed), so another replica may coordinate it.
	// "disk_full" or "failed" (storageState), "" otherwise.
	Storage string `msgpack:"st,omitempty"`
}

// The three messages of every client request (replica reads and writes)
// have hand-written codecs: msgpack.Marshal and Unmarshal cost reflection,
// a growing buffer and a copy of every byte slice, and these bodies carry
// whole sibling sets. They produce and accept the same msgpack maps as the
// struct tags above, so nodes running either code interoperate; a body the
// fast decoder does not expect (another field order is fine, an unknown
// field, another number encoding, an array-encoded struct) goes through
// msgpack.Unmarshal instead.
//
// The decoders alias the body: Key and Set point into it. Callers use them
// only on bodies that are theirs and never modified: an RPC request body
// belongs to the handler, a reply body to the caller (rpc.Transport).

func appendWriteReq(b []byte, r *writeReq) []byte {
	b = append(b, msgpcode.FixedMapLow|5)
	b = appendMsgStr(b, "p")
	b = appendMsgInt(b, int64(r.Partition))
	b = appendMsgStr(b, "k")
	b = appendMsgBin(b, r.Key)
	b = appendMsgStr(b, "s")
	b = appendMsgBin(b, r.Set)
	b = appendMsgStr(b, "y")
	b = appendMsgBool(b, r.Sync)
	b = appendMsgStr(b, "h")
	return appendMsgStr(b, r.HintFor)
}

func appendReadReq(b []byte, r *readReq) []byte {
	b = append(b, msgpcode.FixedMapLow|3)
	b = appendMsgStr(b, "p")
	b = appendMsgInt(b, int64(r.Partition))
	b = appendMsgStr(b, "k")
	b = appendMsgBin(b, r.Key)
	b = appendMsgStr(b, "h")
	return appendMsgStr(b, r.HintFor)
}

func appendReadResp(b []byte, r *readResp) []byte {
	b = append(b, msgpcode.FixedMapLow|2)
	b = appendMsgStr(b, "f")
	b = appendMsgBool(b, r.Found)
	b = appendMsgStr(b, "s")
	return appendMsgBin(b, r.Set)
}

func decodeWriteReq(body []byte) (writeReq, error) {
	var req writeReq
	d := msgReader{b: body}
	for n := d.mapLen(); n > 0 && d.ok; n-- {
		switch string(d.str()) {
		case "p":
			req.Partition = d.int()
		case "k":
			req.Key = d.bytes()
		case "s":
			req.Set = d.bytes()
		case "y":
			req.Sync = d.bool()
		case "h":
			req.HintFor = string(d.str())
		default:
			d.ok = false
		}
	}
	if d.done() {
		return req, nil
	}
	req = writeReq{}
	return req, unmarshalMsg(body, &req)
}

func decodeReadReq(body []byte) (readReq, error) {
	var req readReq
	d := msgReader{b: body}
	for n := d.mapLen(); n > 0 && d.ok; n-- {
		switch string(d.str()) {
		case "p":
			req.Partition = d.int()
		case "k":
			req.Key = d.bytes()
		case "h":
			req.HintFor = string(d.str())
		default:
			d.ok = false
		}
	}
	if d.done() {
		return req, nil
	}
	req = readReq{}
	return req, unmarshalMsg(body, &req)
}

func decodeReadResp(body []byte) (readResp, error) {
	var resp readResp
	d := msgReader{b: body}
	for n := d.mapLen(); n > 0 && d.ok; n-- {
		switch string(d.str()) {
		case "f":
			resp.Found = d.bool()
		case "s":
			resp.Set = d.bytes()
		default:
			d.ok = false
		}
	}
	if d.done() {
		return resp, nil
	}
	resp = readResp{}
	return resp, unmarshalMsg(body, &resp)
}

func appendMsgStr(b []byte, s string) []byte {
	switch n := len(s); {
	case n <= 31:
		b = append(b, msgpcode.FixedStrLow|byte(n))
	case n <= math.MaxUint8:
		b = append(b, msgpcode.Str8, byte(n))
	case n <= math.MaxUint16:
		b = append(b, msgpcode.Str16)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, msgpcode.Str32)
		b = binary.BigEndian.AppendUint32(b, uint32(n))
	}
	return append(b, s...)
}

// appendMsgBin encodes nil as msgpack nil, as msgpack.Marshal does.
func appendMsgBin(b, v []byte) []byte {
	switch n := len(v); {
	case v == nil:
		return append(b, msgpcode.Nil)
	case n <= math.MaxUint8:
		b = append(b, msgpcode.Bin8, byte(n))
	case n <= math.MaxUint16:
		b = append(b, msgpcode.Bin16)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, msgpcode.Bin32)
		b = binary.BigEndian.AppendUint32(b, uint32(n))
	}
	return append(b, v...)
}

func appendMsgInt(b []byte, v int64) []byte {
	switch {
	case v >= 0 && v <= int64(msgpcode.PosFixedNumHigh):
		return append(b, byte(v))
	case v >= 0 && v <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, msgpcode.Uint32), uint32(v))
	default:
		return binary.BigEndian.AppendUint64(append(b, msgpcode.Int64), uint64(v))
	}
}

func appendMsgBool(b []byte, v bool) []byte {
	if v {
		return append(b, msgpcode.True)
	}
	return append(b, msgpcode.False)
}

// msgReader reads the few msgpack types the fast decoders expect. Anything
// else, or running out of bytes, clears ok; the reader then returns zero
// values and the caller falls back to msgpack.Unmarshal.
type msgReader struct {
	b  []byte
	ok bool
}

// done reports whether every byte was read as expected.
func (d *msgReader) done() bool { return d.ok && len(d.b) == 0 }

// take returns the next n bytes, capped, without copying.
func (d *msgReader) take(n int) []byte {
	if !d.ok || n < 0 || n > len(d.b) {
		d.ok = false
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *msgReader) next() byte {
	if p := d.take(1); p != nil {
		return p[0]
	}
	return 0
}

// mapLen starts the reader: it must be called first.
func (d *msgReader) mapLen() int {
	d.ok = true
	c := d.next()
	switch {
	case msgpcode.IsFixedMap(c):
		return int(c & msgpcode.FixedMapMask)
	case c == msgpcode.Map16:
		if p := d.take(2); p != nil {
			return int(binary.BigEndian.Uint16(p))
		}
	}
	d.ok = false
	return 0
}

// length reads the length that follows a str8/16/32 or bin8/16/32 code.
func (d *msgReader) length(size int) int {
	p := d.take(size)
	switch {
	case p == nil:
		return 0
	case size == 1:
		return int(p[0])
	case size == 2:
		return int(binary.BigEndian.Uint16(p))
	default:
		n := binary.BigEndian.Uint32(p)
		if uint64(n) > uint64(len(d.b)) {
			d.ok = false
			return 0
		}
		return int(n)
	}
}

// str reads a str (or nil, as msgpack.Unmarshal reads it into a string).
func (d *msgReader) str() []byte {
	switch c := d.next(); {
	case msgpcode.IsFixedString(c):
		return d.take(int(c & msgpcode.FixedStrMask))
	case c == msgpcode.Str8:
		return d.take(d.length(1))
	case c == msgpcode.Str16:
		return d.take(d.length(2))
	case c == msgpcode.Str32:
		return d.take(d.length(4))
	case c == msgpcode.Nil:
		return nil
	}
	d.ok = false
	return nil
}

// bytes reads a bin; nil stays nil, an empty bin is empty but not nil.
func (d *msgReader) bytes() []byte {
	switch c := d.next(); c {
	case msgpcode.Bin8:
		return d.nonNil(d.take(d.length(1)))
	case msgpcode.Bin16:
		return d.nonNil(d.take(d.length(2)))
	case msgpcode.Bin32:
		return d.nonNil(d.take(d.length(4)))
	case msgpcode.Nil:
		return nil
	}
	d.ok = false
	return nil
}

func (d *msgReader) nonNil(p []byte) []byte {
	if p == nil && d.ok {
		return []byte{}
	}
	return p
}

func (d *msgReader) bool() bool {
	switch d.next() {
	case msgpcode.True:
		return true
	case msgpcode.False:
		return false
	}
	d.ok = false
	return false
}

// int reads a non-negative integer that fits an int32 (partition numbers);
// anything else is left to msgpack.
func (d *msgReader) int() int {
	var v uint64
	c := d.next()
	switch c {
	case msgpcode.Uint8, msgpcode.Int8:
		if p := d.take(1); p != nil {
			v = uint64(p[0])
		}
	case msgpcode.Uint16, msgpcode.Int16:
		if p := d.take(2); p != nil {
			v = uint64(binary.BigEndian.Uint16(p))
		}
	case msgpcode.Uint32, msgpcode.Int32:
		if p := d.take(4); p != nil {
			v = uint64(binary.BigEndian.Uint32(p))
		}
	case msgpcode.Uint64, msgpcode.Int64:
		if p := d.take(8); p != nil {
			v = binary.BigEndian.Uint64(p)
		}
	default:
		if c <= msgpcode.PosFixedNumHigh {
			return int(c)
		}
		d.ok = false
	}
	negative := false
	switch c {
	case msgpcode.Int8:
		negative = v > math.MaxInt8
	case msgpcode.Int16:
		negative = v > math.MaxInt16
	case msgpcode.Int32:
		negative = v > math.MaxInt32
	}
	if negative || v > math.MaxInt32 {
		d.ok = false
		return 0
	}
	return int(v)
}
