package rpc

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"runtime"
	"testing"
	"time"
)

func TestFrameRoundTrip(t *testing.T) {
	frames := []frame{
		{id: 1, kind: kindRequest, method: 7, timeout: 1500 * time.Millisecond, body: []byte("hello")},
		{id: math.MaxUint64, kind: kindRequest, method: 255},
		{id: 2, kind: kindResponse, method: 7, body: bytes.Repeat([]byte{0xab}, 5000)},
		{id: 3, kind: kindError, method: 0, body: []byte("boom")},
		{id: 4, kind: kindResponse},
	}
	var wire []byte
	for i := range frames {
		wire = appendFrame(wire, &frames[i])
	}
	r := bufio.NewReaderSize(bytes.NewReader(wire), 16) // smaller than a frame: exercises refills
	for i, want := range frames {
		got, err := readFrame(r, 1<<20)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if got.id != want.id || got.kind != want.kind || got.method != want.method ||
			got.timeout != want.timeout || !bytes.Equal(got.body, want.body) {
			t.Fatalf("frame %d: got %+v, want %+v", i, got, want)
		}
	}
	if _, err := readFrame(r, 1<<20); err != io.EOF {
		t.Fatalf("after the last frame: got %v, want io.EOF", err)
	}
}

func TestFrameHeaderSizes(t *testing.T) {
	req := frame{kind: kindRequest, body: []byte("x")}
	if got := len(appendFrame(nil, &req)); got != lenSize+18+1 {
		t.Errorf("request frame is %d bytes, want 23", got)
	}
	resp := frame{kind: kindResponse, body: []byte("x")}
	if got := len(appendFrame(nil, &resp)); got != lenSize+10+1 {
		t.Errorf("response frame is %d bytes, want 15", got)
	}
}

// raw builds a frame by hand so that tests can break any field.
func raw(length uint32, id uint64, k byte, method byte, rest ...byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, length)
	b = binary.BigEndian.AppendUint64(b, id)
	b = append(b, k, method)
	return append(b, rest...)
}

func TestReadFrameErrors(t *testing.T) {
	hugeTimeout := binary.BigEndian.AppendUint64(nil, math.MaxUint64)
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, io.EOF},
		{"partial length", []byte{0, 0}, io.ErrUnexpectedEOF},
		{"length below header", raw(9, 1, 2, 0), ErrBadFrame},
		{"zero length", []byte{0, 0, 0, 0}, ErrBadFrame},
		{"too large", raw(1025, 1, 2, 0), ErrFrameTooLarge},
		{"unknown kind", raw(10, 1, 9, 0), ErrBadFrame},
		{"kind zero", raw(10, 1, 0, 0), ErrBadFrame},
		{"request without timeout", raw(10, 1, 1, 0), ErrBadFrame},
		{"timeout out of range", raw(18, 1, 1, 0, hugeTimeout...), ErrBadFrame},
		{"truncated header", raw(10, 1, 2, 0)[:9], io.ErrUnexpectedEOF},
		{"truncated timeout", raw(18, 1, 1, 0, 0, 0), io.ErrUnexpectedEOF},
		{"truncated body", raw(20, 1, 2, 0, 'a'), io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readFrame(bufio.NewReader(bytes.NewReader(tt.in)), 1024)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

// A hostile length prefix must be refused before anything is allocated for it.
func TestReadFrameDoesNotTrustLength(t *testing.T) {
	in := raw(math.MaxUint32, 1, 2, 0)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := readFrame(bufio.NewReader(bytes.NewReader(in)), 1<<20)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("got %v, want ErrFrameTooLarge", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<10 {
		t.Fatalf("allocated %d bytes for a refused frame", grew)
	}
}

func FuzzReadFrame(f *testing.F) {
	for _, fr := range []frame{
		{id: 1, kind: kindRequest, method: 3, timeout: time.Second, body: []byte("body")},
		{id: 2, kind: kindResponse, method: 3, body: []byte{0, 1, 2}},
		{id: 3, kind: kindError, body: []byte("handler failed")},
		{id: 4, kind: kindRequest},
	} {
		f.Add(appendFrame(nil, &fr))
	}
	two := appendFrame(nil, &frame{id: 5, kind: kindResponse, body: []byte("a")})
	f.Add(appendFrame(two, &frame{id: 6, kind: kindRequest, timeout: 1}))
	f.Add(raw(9, 1, 2, 0))
	f.Add(raw(200, 1, 2, 0))
	f.Add(raw(10, 1, 7, 0))
	f.Add(raw(18, 1, 1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{})

	const max = 128
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReaderSize(bytes.NewReader(data), 16)
		consumed := 0
		for {
			fr, err := readFrame(r, max)
			if err != nil {
				return
			}
			if fr.size() > max || cap(fr.body) > max {
				t.Fatalf("frame of %d bytes (body cap %d) passed max %d", fr.size(), cap(fr.body), max)
			}
			// Re-encoding must give back exactly the bytes read: nothing is lost or invented.
			enc := appendFrame(nil, &fr)
			if consumed+len(enc) > len(data) {
				t.Fatalf("re-encoded %d bytes, only %d were left", len(enc), len(data)-consumed)
			}
			if !bytes.Equal(enc, data[consumed:consumed+len(enc)]) {
				t.Fatalf("re-encoded %x, read %x", enc, data[consumed:consumed+len(enc)])
			}
			consumed += len(enc)
		}
	})
}
