package node

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"runtime"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// TestCheckMsgAcceptsEveryType: checkMsg lets through every msgpack type
// and length form (nil, bools, fixints, ints, floats, str/bin 8/16/32,
// arrays and maps 16/32, time and other ext types) and refuses truncations.
func TestCheckMsgAcceptsEveryType(t *testing.T) {
	big := make([]byte, 70000)
	vals := []any{
		nil, true, false, -1, -32, -33, -200, -40000, -1 << 40, 0, 127, 128, 300, 70000, uint64(math.MaxUint64),
		float32(1.5), 2.5, "", "x", string(big[:300]), string(big), big[:10], big[:300], big,
		time.Unix(1, 0), time.Unix(1<<33, 5), time.Unix(-1, 5), time.Unix(1, 5),
		[]any{}, map[string]any{}, []any{nil, []any{[]any{map[string]any{"a": []int{1, 2}}}}},
		make([]int, 20), make([]int, 70000), map[int]bool{1: true, 2: false},
		struct {
			A []string
			M map[string][]byte
			T time.Time
		}{[]string{"a"}, map[string][]byte{"k": nil}, time.Now()},
	}
	for i, v := range vals {
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkMsg(b); err != nil {
			t.Errorf("%d (%T): %v (%x)", i, v, err, b[:min(len(b), 16)])
		}
	}
	// ext types
	for _, b := range [][]byte{{0xd4, 1, 0}, {0xd5, 1, 0, 0}, {0xd6, 1, 0, 0, 0, 0}, {0xd7, 1, 0, 0, 0, 0, 0, 0, 0, 0},
		append([]byte{0xd8, 1}, make([]byte, 16)...), {0xc7, 0, 1}, {0xc7, 2, 1, 0, 0}, {0xc8, 0, 1, 5, 0, 0, 0, 0, 0}, {0xc9, 0, 0, 0, 0, 1}} {
		if err := checkMsg(b); err != nil {
			t.Errorf("ext %x: %v", b, err)
		}
	}
	// truncated ext must fail
	for _, b := range [][]byte{{0xd8, 1, 0}, {0xc7, 5, 1, 0}, {0xdd, 0xff, 0xff, 0xff, 0xff}, {0x91}, {0xc1}} {
		if err := checkMsg(b); err == nil {
			t.Errorf("malformed %x accepted", b)
		}
	}
}

// TestCheckMsgBoundsAllocation: one byte per element (nil) in an array of
// handoff items would make msgpack/v5 allocate ~56 bytes per input byte up
// front; an array over maxMsgElems is refused before decoding.
func TestCheckMsgBoundsAllocation(t *testing.T) {
	const n = 2 << 20
	b := []byte{0x81, 0xa1, 'i', 0xdd}
	b = binary.BigEndian.AppendUint32(b, n)
	b = append(b, bytes.Repeat([]byte{0xc0}, n)...)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var req handoffReq
	err := unmarshalMsg(b, &req)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, errMalformedMsg) {
		t.Fatalf("%d nil handoff items: err %v, want errMalformedMsg", n, err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
		t.Fatalf("refusing a %d-byte body allocated %d MiB", len(b), grew>>20)
	}
}
