package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/dynkv/dynkv/client"
)

// redisKV speaks RESP to one redis server over a pool of connections, one
// per worker, so requests are never pipelined behind each other.
type redisKV struct {
	addr string
	pool chan *redisConn
}

type redisConn struct {
	c net.Conn
	r *bufio.Reader
	w *bufio.Writer
}

func newRedisKV(addr string, conns int) *redisKV {
	return &redisKV{addr: addr, pool: make(chan *redisConn, conns)}
}

func (k *redisKV) Close() {
	for {
		select {
		case c := <-k.pool:
			_ = c.c.Close()
		default:
			return
		}
	}
}

// do sends one command and returns the bulk reply (nil for a null bulk).
func (k *redisKV) do(ctx context.Context, args ...[]byte) ([]byte, error) {
	c, err := k.get(ctx)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(requestTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = c.c.SetDeadline(deadline)
	reply, err := c.roundTrip(args)
	if err != nil {
		_ = c.c.Close() // the stream may be out of step: never reuse it
		return nil, err
	}
	k.pool <- c
	return reply, nil
}

func (k *redisKV) get(ctx context.Context) (*redisConn, error) {
	select {
	case c := <-k.pool:
		return c, nil
	default:
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", k.addr)
	if err != nil {
		return nil, err
	}
	return &redisConn{c: nc, r: bufio.NewReader(nc), w: bufio.NewWriter(nc)}, nil
}

func (c *redisConn) roundTrip(args [][]byte) ([]byte, error) {
	fmt.Fprintf(c.w, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(c.w, "$%d\r\n", len(a))
		c.w.Write(a)
		c.w.WriteString("\r\n")
	}
	if err := c.w.Flush(); err != nil {
		return nil, err
	}
	line, err := c.r.ReadSlice('\n')
	if err != nil || len(line) < 3 {
		return nil, errors.Join(errors.New("redis: short reply"), err)
	}
	switch line[0] {
	case '+':
		return []byte{}, nil
	case '-':
		return nil, &client.Error{Status: http.StatusInternalServerError, Message: string(line[1 : len(line)-2])}
	case '$':
		return c.readBulk(line)
	}
	return nil, fmt.Errorf("redis: unexpected reply %q", line)
}

func (c *redisConn) readBulk(line []byte) ([]byte, error) {
	n, err := strconv.Atoi(string(line[1 : len(line)-2]))
	if err != nil {
		return nil, fmt.Errorf("redis: bad bulk length %q", line)
	}
	if n < 0 {
		return nil, nil
	}
	buf := make([]byte, n+2)
	if _, err := io.ReadFull(c.r, buf); err != nil {
		return nil, err
	}
	return buf[:n], nil
}

func (k *redisKV) Get(ctx context.Context, key string, _ ...client.Option) (*client.Object, error) {
	v, err := k.do(ctx, []byte("GET"), []byte(key))
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, &client.Error{Status: http.StatusNotFound, Message: "key not found"}
	}
	return &client.Object{Key: key, Siblings: []client.Sibling{{Value: v}}}, nil
}

func (k *redisKV) Put(ctx context.Context, key string, value []byte, _ ...client.Option) (*client.WriteResult, error) {
	if _, err := k.do(ctx, []byte("SET"), []byte(key), value); err != nil {
		return nil, err
	}
	return &client.WriteResult{}, nil
}
