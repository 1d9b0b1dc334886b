package node

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// TestWireCodecsMatchMsgpack: the hand-written codecs of the hot messages
// and msgpack's reflection codec read each other's output, so nodes with
// either code interoperate.
func TestWireCodecsMatchMsgpack(t *testing.T) {
	big := bytes.Repeat([]byte{7}, 70000) // bin32
	writes := []writeReq{
		{},
		{Partition: 5, Key: []byte("k"), Set: []byte{1, 2, 3}, Sync: true, HintFor: "n2"},
		{Partition: 200, Key: []byte("key"), Set: big},
		{Partition: 70000, Key: bytes.Repeat([]byte("x"), 300), Set: []byte{}, HintFor: string(bytes.Repeat([]byte("h"), 40))},
	}
	for _, w := range writes {
		var viaMsgpack writeReq
		if err := msgpack.Unmarshal(appendWriteReq(nil, &w), &viaMsgpack); err != nil || !sameWrite(viaMsgpack, w) {
			t.Fatalf("msgpack read appendWriteReq(%+v) as %+v, %v", w.Partition, viaMsgpack.Partition, err)
		}
		enc, err := msgpack.Marshal(w)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeWriteReq(enc)
		if err != nil || !sameWrite(got, w) {
			t.Fatalf("decodeWriteReq of msgpack's %+v: %+v, %v", w.Partition, got.Partition, err)
		}
	}
	for _, r := range []readReq{{}, {Partition: 3, Key: []byte("k"), HintFor: "n3"}} {
		var viaMsgpack readReq
		if err := msgpack.Unmarshal(appendReadReq(nil, &r), &viaMsgpack); err != nil || !reflect.DeepEqual(viaMsgpack, r) {
			t.Fatalf("msgpack read appendReadReq(%+v) as %+v, %v", r, viaMsgpack, err)
		}
		enc, _ := msgpack.Marshal(r)
		if got, err := decodeReadReq(enc); err != nil || !reflect.DeepEqual(got, r) {
			t.Fatalf("decodeReadReq of msgpack's %+v: %+v, %v", r, got, err)
		}
	}
	for _, r := range []readResp{{}, {Found: true, Set: []byte{9, 9}}, {Found: true, Set: big}} {
		var viaMsgpack readResp
		if err := msgpack.Unmarshal(appendReadResp(nil, &r), &viaMsgpack); err != nil || viaMsgpack.Found != r.Found || !bytes.Equal(viaMsgpack.Set, r.Set) {
			t.Fatalf("msgpack read appendReadResp as %v, %v", viaMsgpack.Found, err)
		}
		enc, _ := msgpack.Marshal(r)
		if got, err := decodeReadResp(enc); err != nil || got.Found != r.Found || !bytes.Equal(got.Set, r.Set) {
			t.Fatalf("decodeReadResp of msgpack's: %v, %v", got.Found, err)
		}
	}
}

func sameWrite(a, b writeReq) bool {
	return a.Partition == b.Partition && bytes.Equal(a.Key, b.Key) && bytes.Equal(a.Set, b.Set) &&
		a.Sync == b.Sync && a.HintFor == b.HintFor
}

// TestWireDecodeFallback: what the fast decoder does not expect (a negative
// number, a field it does not know, an array-encoded struct) is decoded by
// msgpack, exactly as before the fast path existed.
func TestWireDecodeFallback(t *testing.T) {
	type extra struct {
		Partition int    `msgpack:"p"`
		Key       []byte `msgpack:"k"`
		New       string `msgpack:"zz"`
	}
	enc, _ := msgpack.Marshal(extra{Partition: -3, Key: []byte("k"), New: "x"})
	got, err := decodeReadReq(enc)
	if err != nil || got.Partition != -3 || string(got.Key) != "k" {
		t.Fatalf("decodeReadReq with a negative partition and an unknown field: %+v, %v", got, err)
	}
	var buf bytes.Buffer
	e := msgpack.NewEncoder(&buf)
	e.UseArrayEncodedStructs(true)
	if err := e.Encode(writeReq{Partition: 1, Key: []byte("a")}); err != nil {
		t.Fatal(err)
	}
	var want writeReq
	wantErr := msgpack.Unmarshal(buf.Bytes(), &want)
	w, err := decodeWriteReq(buf.Bytes())
	if (err == nil) != (wantErr == nil) || !sameWrite(w, want) {
		t.Fatalf("decodeWriteReq of an array-encoded struct = %+v, %v; msgpack gives %+v, %v", w, err, want, wantErr)
	}
}

// TestWireDecodeAliases pins down what callers rely on: Key and Set point
// into the body (so the body must stay unmodified while they are in use).
func TestWireDecodeAliases(t *testing.T) {
	body := appendWriteReq(nil, &writeReq{Partition: 1, Key: []byte("key"), Set: []byte("set")})
	req, err := decodeWriteReq(body)
	if err != nil {
		t.Fatal(err)
	}
	body[bytes.Index(body, []byte("set"))] = 'S'
	if string(req.Set) != "Set" {
		t.Fatalf("Set does not alias the body: %q", req.Set)
	}
	if cap(req.Key) != len(req.Key) || cap(req.Set) != len(req.Set) {
		t.Fatal("aliased slices not capped: an append would write into the body")
	}
}

// TestWireDecodeGarbage: bodies come from peers; no input may panic, and
// the fast path must agree with msgpack on what it accepts.
func TestWireDecodeGarbage(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	seeds := [][]byte{
		appendWriteReq(nil, &writeReq{Partition: 9, Key: []byte("key"), Set: []byte{1, 2, 3, 4}, Sync: true, HintFor: "n1"}),
		appendReadReq(nil, &readReq{Partition: 9, Key: []byte("key")}),
		appendReadResp(nil, &readResp{Found: true, Set: []byte{1, 2}}),
	}
	for i := 0; i < 3000; i++ { // more is slow: msgpack, the fallback, allocates for every corrupt length
		b := bytes.Clone(seeds[i%len(seeds)])
		switch rng.IntN(3) {
		case 0:
			b[rng.IntN(len(b))] ^= byte(1 << rng.IntN(8))
		case 1:
			b = b[:rng.IntN(len(b))]
		default:
			b[rng.IntN(len(b))] = byte(rng.IntN(256))
		}
		decodeWriteReq(b)
		decodeReadReq(b)
		decodeReadResp(b)
		var want readResp
		if msgpack.Unmarshal(b, &want) == nil {
			if got, err := decodeReadResp(b); err != nil || got.Found != want.Found || !bytes.Equal(got.Set, want.Set) {
				t.Fatalf("decodeReadResp(%x) = %+v, %v; msgpack gives %+v", b, got, err, want)
			}
		}
	}
}
