package rpc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// FuzzServerConn writes arbitrary bytes to a real server's TCP connection,
// followed by one well-formed request, and reads what comes back. Every
// reply must be a well-formed response or error frame answering a request
// the server could parse from the stream, a response must carry the
// handler's answer for that request, and when the whole stream is valid
// requests, each one (the last included) gets its reply. A handler that
// panics (method 255) must cost an error reply, not the server.
func FuzzServerConn(f *testing.F) {
	const max = 256
	req := func(id uint64, method uint8, timeout time.Duration, body string) []byte {
		return appendFrame(nil, &frame{id: id, kind: kindRequest, method: method, timeout: timeout, body: []byte(body)})
	}
	f.Add(req(1, 1, 0, "hello"))
	f.Add(append(req(1, 1, time.Second, "a"), req(2, 255, 0, "panic")...))
	f.Add(append(req(7, 0, 0, "fail"), req(7, 3, 1, "same id")...))
	f.Add(req(3, 1, 0, string(make([]byte, max))))
	f.Add(appendFrame(nil, &frame{id: 4, kind: kindResponse, body: []byte("not a request")}))
	f.Add(raw(9, 1, 2, 0))
	f.Add(raw(0xffffffff, 1, 1, 0))
	f.Add(req(5, 1, 0, "cut short")[:12])
	f.Add([]byte{})

	h := HandlerFunc(func(_ context.Context, method uint8, body []byte) ([]byte, error) {
		switch method {
		case 0:
			return nil, errors.New("method 0 fails")
		case 255:
			panic("method 255 panics")
		}
		return append([]byte{method}, body...), nil
	})
	s := startServer(f, h, Config{MaxFrameSize: max, IdleTimeout: time.Minute})
	const sentinelID = 1<<64 - 1
	sentinel := req(sentinelID, 42, 0, "last")

	f.Fuzz(func(t *testing.T, data []byte) {
		stream := append(bytes.Clone(data), sentinel...)
		// What the server parses: requests up to the first bad frame or the end.
		sent := map[uint64][]frame{}
		frames, complete := 0, false
		br := bufio.NewReader(bytes.NewReader(stream))
		for {
			fr, err := readFrame(br, max)
			if err == io.EOF {
				complete = true
				break
			}
			if err != nil || fr.kind != kindRequest {
				break
			}
			sent[fr.id] = append(sent[fr.id], fr)
			frames++
		}
		complete = complete && len(sent[sentinelID]) > 0

		conn, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(testTimeout))
		if _, err := conn.Write(stream); err != nil {
			return // the server may close on a bad frame before reading everything
		}
		if !complete {
			// A frame cut short would wait for bytes forever: end the stream.
			// Replies still in flight may then be dropped.
			conn.(*net.TCPConn).CloseWrite()
		}
		in := bufio.NewReader(conn)
		replies := 0
		for complete && replies < frames || !complete {
			fr, err := readFrame(in, 1<<20)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Fatalf("no reply after %d of %d frames", replies, frames)
				}
				if complete {
					t.Fatalf("connection lost after %d replies to %d valid requests: %v", replies, frames, err)
				}
				return
			}
			replies++
			reqs, ok := sent[fr.id]
			if !ok {
				t.Fatalf("reply to id %d, which no request carried", fr.id)
			}
			switch fr.kind {
			case kindError:
				if len(fr.body) == 0 {
					t.Fatalf("error reply to id %d without a message", fr.id)
				}
			case kindResponse:
				matched := false
				for _, r := range reqs {
					matched = matched || (r.method == fr.method && bytes.Equal(fr.body, append([]byte{r.method}, r.body...)))
				}
				if !matched {
					t.Fatalf("response %x to id %d matches none of its requests", fr.body, fr.id)
				}
			default:
				t.Fatalf("reply of kind %d", fr.kind)
			}
		}
	})
}
