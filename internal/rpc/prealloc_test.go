package rpc

import (
	"encoding/binary"
	"net"
	"runtime"
	"testing"
	"time"
)

// TestDeclaredFrameSizeNotTrusted: a connection that declares a 64 MiB
// frame and then sends nothing must not make the server allocate 64 MiB;
// the body grows as its bytes arrive. 16 such connections would otherwise
// hold a gigabyte until the idle timeout.
func TestDeclaredFrameSizeNotTrusted(t *testing.T) {
	s, err := Listen("127.0.0.1:0", HandlerFunc(echo), Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const conns = 16
	for range conns {
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		hdr := binary.BigEndian.AppendUint32(nil, 64<<20)
		hdr = binary.BigEndian.AppendUint64(hdr, 1)
		hdr = append(hdr, byte(kindRequest), 7)
		hdr = binary.BigEndian.AppendUint64(hdr, 0)
		if _, err := c.Write(hdr); err != nil {
			t.Fatal(err)
		}
	}
	// Let the server read the headers; allocation, if any, happens then.
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		runtime.ReadMemStats(&after)
		if grew := int64(after.TotalAlloc) - int64(before.TotalAlloc); grew > conns*(32<<20) {
			t.Fatalf("%d connections that each sent 22 bytes made the server allocate %d MiB", conns, grew>>20)
		}
	}
}
