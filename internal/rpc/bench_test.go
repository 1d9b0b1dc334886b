package rpc

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"
)

// reply returns the request body: the bench measures transport, not copying.
var reply = HandlerFunc(func(_ context.Context, _ uint8, body []byte) ([]byte, error) {
	return body, nil
})

var benchSizes = []int{64, 4 << 10}

func BenchmarkTCPCall(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("body=%d", size), func(b *testing.B) {
			benchTCP(b, size, context.Background(), false)
		})
	}
	// A deadline costs the server a context.WithTimeout per request.
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	b.Run("body=64/deadline", func(b *testing.B) { benchTCP(b, 64, ctx, false) })
}

func BenchmarkTCPCallParallel(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("body=%d", size), func(b *testing.B) {
			benchTCP(b, size, context.Background(), true)
		})
	}
}

func benchTCP(b *testing.B, size int, ctx context.Context, parallel bool) {
	s := startServer(b, reply, Config{})
	c := newTestClient(b, Config{})
	addr := s.Addr()
	body := make([]byte, size)
	if _, err := c.Call(ctx, addr, 1, body); err != nil { // dial outside the timing
		b.Fatal(err)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	if !parallel {
		for range b.N {
			if _, err := c.Call(ctx, addr, 1, body); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	b.SetParallelism(16) // callers per CPU: a coordinator fans out to many replicas at once
	b.RunParallel(func(pb *testing.PB) {
		body := make([]byte, size)
		for pb.Next() {
			if _, err := c.Call(ctx, addr, 1, body); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkMemCall(b *testing.B) {
	n := NewMemNetwork(1)
	l, err := n.Listen("b", reply)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	c := n.Client("a")
	body := make([]byte, 64)
	b.Run("sequential", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := c.Call(context.Background(), "b", 1, body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.Call(context.Background(), "b", 1, body); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func BenchmarkFrame(b *testing.B) {
	f := frame{id: 1, kind: kindRequest, method: 1, timeout: time.Second, body: make([]byte, 64)}
	wire := appendFrame(nil, &f)
	var buf []byte
	r := bytes.NewReader(wire)
	br := bufio.NewReader(r)
	b.ReportAllocs()
	for range b.N {
		buf = appendFrame(buf[:0], &f)
		r.Reset(wire)
		br.Reset(r)
		if _, err := readFrame(br, 1<<20); err != nil {
			b.Fatal(err)
		}
	}
}
