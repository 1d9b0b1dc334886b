package rpc

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
)

// kind is a frame's role. The values are on the wire.
type kind uint8

const (
	kindRequest  kind = 1
	kindResponse kind = 2
	kindError    kind = 3 // body is the handler's error text
)

const (
	lenSize          = 4                 // the uint32 length prefix
	baseHeaderLen    = 8 + 1 + 1         // id, kind, method
	requestHeaderLen = baseHeaderLen + 8 // + timeout
)

// frame is one message on a connection; see doc.go for the layout.
type frame struct {
	id      uint64
	kind    kind
	method  uint8
	timeout time.Duration // requests only: the caller's remaining time, 0 = none
	body    []byte
}

func (f *frame) headerLen() int {
	if f.kind == kindRequest {
		return requestHeaderLen
	}
	return baseHeaderLen
}

// size is the value of the length prefix: everything after it.
func (f *frame) size() int { return f.headerLen() + len(f.body) }

// appendFrame appends f's wire form to dst. The caller has checked f.size() against the
// limit and that f.timeout is not negative.
func appendFrame(dst []byte, f *frame) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(f.size()))
	dst = binary.BigEndian.AppendUint64(dst, f.id)
	dst = append(dst, byte(f.kind), f.method)
	if f.kind == kindRequest {
		dst = binary.BigEndian.AppendUint64(dst, uint64(f.timeout))
	}
	return append(dst, f.body...)
}

// readFrame reads one frame. It allocates only the body, and only after checking the
// length against max, so a hostile prefix cannot make it allocate more than max bytes.
// It returns io.EOF only at a frame boundary; a frame cut short is io.ErrUnexpectedEOF.
// Errors wrapping ErrBadFrame or ErrFrameTooLarge leave r mid-frame: the stream is lost.
func readFrame(r *bufio.Reader, max int) (frame, error) {
	var f frame
	p, err := r.Peek(lenSize)
	if err != nil {
		if err == io.EOF && len(p) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return f, err
	}
	n := binary.BigEndian.Uint32(p)
	if uint64(n) > uint64(max) {
		return f, fmt.Errorf("%w: length %d exceeds %d", ErrFrameTooLarge, n, max)
	}
	if n < baseHeaderLen {
		return f, fmt.Errorf("%w: length %d shorter than a header", ErrBadFrame, n)
	}
	r.Discard(lenSize)
	hdrLen, err := readHeader(r, &f, int(n))
	if err != nil {
		return f, err
	}
	if bodyLen := int(n) - hdrLen; bodyLen > 0 {
		// Grow the body as its bytes arrive rather than trusting the
		// prefix: a peer that declares 64 MiB and stalls holds at most
		// what it sent (plus the first chunk).
		const chunk = 1 << 20
		if bodyLen <= chunk {
			f.body = make([]byte, bodyLen)
			if _, err := io.ReadFull(r, f.body); err != nil {
				return f, noEOF(err)
			}
		} else {
			buf := bytes.NewBuffer(make([]byte, 0, chunk))
			if _, err := io.CopyN(buf, r, int64(bodyLen)); err != nil {
				return f, noEOF(err)
			}
			f.body = buf.Bytes()
		}
	}
	return f, nil
}

// readHeader parses the header after the length prefix into f and returns its length.
func readHeader(r *bufio.Reader, f *frame, n int) (int, error) {
	p, err := r.Peek(baseHeaderLen)
	if err != nil {
		return 0, noEOF(err)
	}
	f.id = binary.BigEndian.Uint64(p)
	f.kind = kind(p[8])
	f.method = p[9]
	r.Discard(baseHeaderLen)
	switch f.kind {
	case kindResponse, kindError:
		return baseHeaderLen, nil
	case kindRequest:
	default:
		return 0, fmt.Errorf("%w: unknown kind %d", ErrBadFrame, f.kind)
	}
	if n < requestHeaderLen {
		return 0, fmt.Errorf("%w: request length %d shorter than its header", ErrBadFrame, n)
	}
	if p, err = r.Peek(8); err != nil {
		return 0, noEOF(err)
	}
	t := binary.BigEndian.Uint64(p)
	if t > math.MaxInt64 {
		return 0, fmt.Errorf("%w: timeout %d out of range", ErrBadFrame, t)
	}
	f.timeout = time.Duration(t)
	r.Discard(8)
	return requestHeaderLen, nil
}

// noEOF turns an EOF inside a frame into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// isProtocolError tells a peer speaking garbage (worth an error log) from a connection
// that merely went away.
func isProtocolError(err error) bool {
	return errors.Is(err, ErrBadFrame) || errors.Is(err, ErrFrameTooLarge)
}
