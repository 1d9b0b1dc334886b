package node

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/dynkv/dynkv/quorum"
	"github.com/dynkv/dynkv/vclock"
)

// sampleMessages returns one encoded example of every msgpack message a
// node decodes from outside: RPC requests and replies, gossip records, node
// metadata and the stored identity.
func sampleMessages(t testing.TB) [][]byte {
	t.Helper()
	set0, _ := vclock.Set{}.Update(nil, 1, []byte("v"), "text/plain", false)
	set, err := set0.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	msgs := [][]byte{
		appendWriteReq(nil, &writeReq{Partition: 3, Key: []byte("k"), Set: set, Sync: true, HintFor: "n2"}),
		appendReadReq(nil, &readReq{Partition: 63, Key: []byte("key")}),
		appendReadResp(nil, &readResp{Found: true, Set: set}),
	}
	for _, v := range []any{
		writeReq{Partition: -1, Key: []byte{}, Set: nil},
		handoffReq{Items: []handoffItem{{Partition: 1, Key: []byte("a"), Set: set}, {Partition: 2}}},
		treeNodesReq{Partition: 4, Level: 2, Indices: []int{0, 5, 1 << 20, -1}},
		treeNodesResp{Hashes: []uint64{0, 1, 1<<64 - 1}},
		leafKeysReq{Partition: 4, Leaves: []int{3, 7}},
		leafKeysResp{Keys: map[string]uint64{"a": 1, "b": 2}},
		reapReq{Partition: 1, Key: []byte("k"), Set: set},
		scanReq{Partition: 2, After: []byte("a"), MaxKeys: 10, MaxBytes: 1 << 20},
		scanResp{Items: []handoffItem{{Partition: 2, Key: []byte("b"), Set: set}}, More: true},
		coordinateReq{Key: []byte("k"), Value: []byte("v"), ContentType: "text/plain", Context: "kgEB", HasContext: true, W: 2, PW: 1, Timeout: time.Second, Hops: 1},
		coordinateResp{Context: "kgEB", Acked: 2, Primaries: 2},
		coordinateResp{Err: &wireError{Msg: "quorum", Quorum: &quorum.Error{Op: "write", Quorum: "w", Needed: 2, Got: 1, Failures: []string{"n2: timeout"}}}},
		[]memberRecord{{Name: "n1", Status: statusJoined, Gen: 3, RPCAddr: "n1:9000"}, {Name: "n2", Status: statusJoining, Gen: 1, Phase: 2, ChangeID: 1, Driver: "n2", Done: []int{0, 1}, Moved: 10, Ack: "n2/1/2"}},
		nodeMeta{Partitions: 64, N: 3, RPCAddr: "n1:9000", HTTPAddr: "127.0.0.1:8080"},
		identity{Name: "n1", Partitions: 64, N: 3, Actor: 7, Incarnations: 2, Counter: 99},
	} {
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, b)
	}
	return msgs
}

// hugeArray is a handoff request declaring 2^32-1 items in eight bytes:
// msgpack/v5 alone would allocate the whole slice (over 200 GB) first.
var hugeArray = []byte{0x81, 0xa1, 'i', 0xdd, 0xff, 0xff, 0xff, 0xff}

// TestUnmarshalMsgDoesNotTrustLengths: lengths that promise more than the
// body holds are refused before msgpack allocates for them.
func TestUnmarshalMsgDoesNotTrustLengths(t *testing.T) {
	for name, tc := range map[string]struct {
		body []byte
		into func() any
	}{
		"array of structs":   {hugeArray, func() any { return new(handoffReq) }},
		"gossip records":     {[]byte{0xdd, 0x01, 0x00, 0x00, 0x00}, func() any { return new([]memberRecord) }},
		"map":                {[]byte{0x81, 0xa1, 'k', 0xdf, 0x00, 0x10, 0x00, 0x00}, func() any { return new(leafKeysResp) }},
		"ints":               {[]byte{0x81, 0xa1, 'i', 0xdd, 0x00, 0xff, 0xff, 0xff}, func() any { return new(treeNodesReq) }},
		"nested unknown key": {[]byte{0x81, 0xa1, 'z', 0x91, 0xdd, 0x00, 0xff, 0xff, 0xff}, func() any { return new(coordinateReq) }},
		"ext":                {[]byte{0xc9, 0xff, 0xff, 0xff, 0xff, 0x01}, func() any { return new(nodeMeta) }},
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		err := unmarshalMsg(tc.body, tc.into())
		runtime.ReadMemStats(&after)
		if !errors.Is(err, errMalformedMsg) {
			t.Errorf("%s: got %v, want errMalformedMsg", name, err)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<10 {
			t.Errorf("%s: allocated %d bytes for a %d-byte body", name, grew, len(tc.body))
		}
	}
}

// TestCheckMsg: every message we send passes, including long strings,
// bins and arrays; nesting deeper than any message of ours does not.
func TestCheckMsg(t *testing.T) {
	big := bytes.Repeat([]byte{7}, 70000)
	many := make([]int, 70000)
	msgs := sampleMessages(t)
	for _, v := range []any{
		writeReq{Key: big, HintFor: strings.Repeat("h", 300)},
		treeNodesReq{Indices: many},
		coordinateReq{ContentType: strings.Repeat("c", 70000), Timeout: -1},
		map[string]any{"f": 1.5, "g": float32(2), "e": msgpack.RawMessage{0xd4, 1, 2}, "n": -100000, "m": map[int]int{1: 2}},
	} {
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, b)
	}
	for i, b := range msgs {
		if err := checkMsg(b); err != nil {
			t.Errorf("message %d refused: %v", i, err)
		}
		if err := checkMsg(b[:len(b)-1]); !errors.Is(err, errMalformedMsg) {
			t.Errorf("message %d less its last byte: %v", i, err)
		}
	}
	deep := append(bytes.Repeat([]byte{0x91}, maxMsgDepth+1), 0xc0)
	if err := checkMsg(deep); !errors.Is(err, errMalformedMsg) {
		t.Errorf("%d nested arrays: %v", maxMsgDepth+1, err)
	}
	if err := checkMsg(deep[1:]); err != nil {
		t.Errorf("%d nested arrays: %v", maxMsgDepth, err)
	}
}

// FuzzDecodeMessage decodes arbitrary bytes as every msgpack message a node
// reads from outside. Nothing may panic or allocate for lengths the body
// cannot hold (see hugeArray in the corpus); what decodes must re-encode to
// bytes that decode to the same message; the hand-written codecs must agree
// with msgpack on what they accept.
func FuzzDecodeMessage(f *testing.F) {
	for _, b := range sampleMessages(f) {
		f.Add(b)
	}
	f.Add(hugeArray)
	f.Fuzz(func(t *testing.T, body []byte) {
		stable[handoffReq](t, body)
		stable[treeNodesReq](t, body)
		stable[treeNodesResp](t, body)
		stable[leafKeysReq](t, body)
		stable[leafKeysResp](t, body)
		stable[reapReq](t, body)
		stable[scanReq](t, body)
		stable[scanResp](t, body)
		stable[coordinateReq](t, body)
		stable[coordinateResp](t, body)
		stable[[]memberRecord](t, body)
		stable[nodeMeta](t, body)
		stable[identity](t, body)

		if w, err := decodeWriteReq(body); err == nil {
			var m writeReq
			if err := msgpack.Unmarshal(body, &m); err != nil || !sameWrite(m, w) {
				t.Fatalf("decodeWriteReq gave %+v, msgpack %+v, %v", w, m, err)
			}
			if again, err := decodeWriteReq(appendWriteReq(nil, &w)); err != nil || !sameWrite(again, w) {
				t.Fatalf("writeReq %+v re-encoded decodes as %+v, %v", w, again, err)
			}
		}
		if r, err := decodeReadReq(body); err == nil {
			var m readReq
			if err := msgpack.Unmarshal(body, &m); err != nil || m.Partition != r.Partition || !bytes.Equal(m.Key, r.Key) || m.HintFor != r.HintFor {
				t.Fatalf("decodeReadReq gave %+v, msgpack %+v, %v", r, m, err)
			}
			if again, err := decodeReadReq(appendReadReq(nil, &r)); err != nil || again.Partition != r.Partition || !bytes.Equal(again.Key, r.Key) || again.HintFor != r.HintFor {
				t.Fatalf("readReq %+v re-encoded decodes as %+v, %v", r, again, err)
			}
		}
		if r, err := decodeReadResp(body); err == nil {
			var m readResp
			if err := msgpack.Unmarshal(body, &m); err != nil || m.Found != r.Found || !bytes.Equal(m.Set, r.Set) {
				t.Fatalf("decodeReadResp gave %+v, msgpack %+v, %v", r, m, err)
			}
			if again, err := decodeReadResp(appendReadResp(nil, &r)); err != nil || again.Found != r.Found || !bytes.Equal(again.Set, r.Set) {
				t.Fatalf("readResp %+v re-encoded decodes as %+v, %v", r, again, err)
			}
		}
	})
}

// stable decodes body as a T; if that works, the decoded message must
// survive encoding and decoding: after one round trip (which settles nil
// against empty), a second gives back an equal message.
func stable[T any](t *testing.T, body []byte) {
	t.Helper()
	var v T
	if err := unmarshalMsg(body, &v); err != nil {
		return
	}
	once := roundTrip(t, v)
	if twice := roundTrip(t, once); !reflect.DeepEqual(once, twice) {
		t.Fatalf("%T: %+v re-encoded decodes as %+v", v, once, twice)
	}
}

func roundTrip[T any](t *testing.T, v T) T {
	t.Helper()
	b, err := msgpack.Marshal(&v)
	if err != nil {
		t.Fatalf("%T %+v does not encode: %v", v, v, err)
	}
	var out T
	if err := unmarshalMsg(b, &out); err != nil {
		t.Fatalf("%T: re-encoded %x does not decode: %v", v, b, err)
	}
	return out
}

// FuzzServeRPC sends arbitrary method numbers and bodies to a one-node
// cluster's RPC handler, as a peer (or anyone reaching the RPC port) could.
// A malformed body must get an error, never a panic, and every answer must
// decode as its method's reply.
func FuzzServeRPC(f *testing.F) {
	methods := []uint8{methodRead, methodWrite, methodHandoff, methodTreeNodes, methodLeafKeys, methodReap, methodScan, methodCoordinate}
	for _, b := range sampleMessages(f) {
		for _, m := range methods {
			f.Add(m, b)
		}
	}
	f.Add(uint8(0), []byte{})
	f.Add(uint8(200), []byte{0xc0})
	f.Add(methodHandoff, hugeArray)
	c := startCluster(f, 1, func(cfg *Config) { cfg.N, cfg.R, cfg.W = 1, 1, 1 })
	n := c.nodes[0]
	f.Fuzz(func(t *testing.T, method uint8, body []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		reply, err := n.ServeRPC(ctx, method, bytes.Clone(body))
		if err != nil {
			if reply != nil {
				t.Fatalf("method %d: reply %x with error %v", method, reply, err)
			}
			return
		}
		switch method {
		case methodRead:
			r, err := decodeReadResp(reply)
			if err != nil {
				t.Fatalf("read reply %x: %v", reply, err)
			}
			if r.Found {
				if _, err := vclock.UnmarshalSet(r.Set); err != nil {
					t.Fatalf("read reply holds a set that does not decode: %v", err)
				}
			}
		case methodWrite, methodHandoff, methodReap:
			if reply != nil {
				t.Fatalf("method %d: reply %x, want none", method, reply)
			}
		case methodTreeNodes:
			decodeReply[treeNodesResp](t, reply)
		case methodLeafKeys:
			decodeReply[leafKeysResp](t, reply)
		case methodScan:
			decodeReply[scanResp](t, reply)
		case methodCoordinate:
			decodeReply[coordinateResp](t, reply)
		default:
			t.Fatalf("unknown method %d answered %x", method, reply)
		}
	})
}

func decodeReply[T any](t *testing.T, reply []byte) {
	t.Helper()
	var v T
	if err := unmarshalMsg(reply, &v); err != nil {
		t.Fatalf("%T reply %x: %v", v, reply, err)
	}
}
