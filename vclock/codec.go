package vclock

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// Errors returned by the decoders; the underlying cause is wrapped with them.
var (
	// ErrBadContext is returned by DecodeContext for a context this package
	// did not produce: the client sent garbage, truncated it or built it by
	// hand. The request should be refused, not treated as a blind write.
	ErrBadContext = errors.New("vclock: malformed context")
	// ErrCorrupt is returned by UnmarshalSet for bytes that are not a valid
	// encoded Set: a damaged store value or a buggy peer.
	ErrCorrupt = errors.New("vclock: corrupt sibling set")
)

// Limits on client contexts, which arrive from outside.
const (
	// MaxContextEntries bounds the actors in a context. A key's clock holds one
	// entry per store incarnation that ever coordinated a write to it, so a
	// legitimate context is far smaller.
	MaxContextEntries = 1024
	// MaxContextLen bounds the encoded context, in bytes of base64. The
	// largest context of MaxContextEntries entries takes 24,580.
	MaxContextLen = 32 << 10
	// MaxCounter bounds counters in a context, so that a forged context
	// cannot drive Update to a counter overflow, which it could only answer
	// by panicking. Honest counters reach it after 2^62 writes to one key
	// through one replica.
	MaxCounter = 1 << 62
)

// Wire format, msgpack throughout (uints in their shortest form):
//
//	Set:      [version=1, clock, siblings]
//	clock:    [actor1, counter1, actor2, counter2, ...]   sorted by actor
//	siblings: [actor, counter, deleted bool, content type str, value bin, ...]   5 per sibling, sorted by dot
//	context:  base64url, unpadded, of the msgpack clock array
//
// Flat arrays save one header byte per entry over arrays of pairs. The version
// lets the stored format change without a flag day.
const (
	setVersion    = 1
	setFields     = 3
	siblingFields = 5
)

var contextEncoding = base64.RawURLEncoding.Strict()

// appendWriter is the msgpack encoder's destination: a growing slice that
// never fails.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }
func (w *appendWriter) WriteByte(c byte) error      { w.b = append(w.b, c); return nil }

// encoder wraps a msgpack.Encoder with a sticky error, so encoding code reads
// as a sequence of fields.
type encoder struct {
	w   appendWriter
	enc *msgpack.Encoder
	err error
}

var encoders = sync.Pool{New: func() any {
	e := new(encoder)
	e.enc = msgpack.NewEncoder(&e.w)
	return e
}}

// withEncoder appends what fn encodes to dst.
func withEncoder(dst []byte, fn func(*encoder)) ([]byte, error) {
	e := encoders.Get().(*encoder)
	e.w.b, e.err = dst, nil
	fn(e)
	out, err := e.w.b, e.err
	e.w.b = nil // do not pin the caller's buffer in the pool
	encoders.Put(e)
	return out, err
}

func (e *encoder) check(err error) {
	if e.err == nil {
		e.err = err
	}
}

func (e *encoder) arrayLen(n int) { e.check(e.enc.EncodeArrayLen(n)) }
func (e *encoder) uint(n uint64)  { e.check(e.enc.EncodeUint(n)) }

func (e *encoder) vv(v VV) {
	e.arrayLen(2 * len(v))
	for _, x := range v {
		e.uint(uint64(x.Actor))
		e.uint(x.Counter)
	}
}

func (e *encoder) sibling(x Sibling) {
	e.uint(uint64(x.Dot.Actor))
	e.uint(x.Dot.Counter)
	e.check(e.enc.EncodeBool(x.Deleted))
	e.check(e.enc.EncodeString(x.ContentType))
	e.check(e.enc.EncodeBytesLen(len(x.Value)))
	e.w.b = append(e.w.b, x.Value...)
}

// AppendBinary appends the encoding of s to dst (encoding.BinaryAppender).
// It refuses a set that fails Validate rather than store something
// UnmarshalSet would reject.
func (s Set) AppendBinary(dst []byte) ([]byte, error) {
	if err := s.Validate(); err != nil {
		return dst, err
	}
	return withEncoder(dst, func(e *encoder) {
		e.arrayLen(setFields)
		e.uint(setVersion)
		e.vv(s.Clock)
		e.arrayLen(siblingFields * len(s.Siblings))
		for _, x := range s.Siblings {
			e.sibling(x)
		}
	})
}

// MarshalBinary encodes s for storage or the wire (encoding.BinaryMarshaler).
func (s Set) MarshalBinary() ([]byte, error) {
	return s.AppendBinary(make([]byte, 0, s.Size()))
}

// EncodeContext returns the opaque causal context handed to clients for v.
// The empty VV encodes as "".
func EncodeContext(v VV) string {
	if len(v) == 0 {
		return ""
	}
	// The only error source is the writer, and appendWriter cannot fail.
	b, _ := withEncoder(make([]byte, 0, 3+len(v)*maxEntrySize), func(e *encoder) { e.vv(v) })
	return contextEncoding.EncodeToString(b)
}

// decoder reads msgpack strictly: each field must have the type the encoder
// writes, and no length prefix may exceed the bytes left, so a short input
// cannot make it allocate much.
type decoder struct {
	r   bytes.Reader
	dec *msgpack.Decoder
	// src is the input when values may alias it (UnmarshalSetShared); nil
	// makes readInto copy into the arena.
	src []byte
	// scratch holds a content type being decoded when src is nil; it stays
	// with the pooled decoder.
	scratch []byte
}

var decoders = sync.Pool{New: func() any {
	d := new(decoder)
	d.dec = msgpack.NewDecoder(&d.r) // *bytes.Reader is a ByteScanner: no bufio
	return d
}}

// withDecoder runs fn over b and checks it consumed all of b.
func withDecoder(b []byte, fn func(*decoder) error) error {
	d := decoders.Get().(*decoder)
	defer decoders.Put(d)
	d.r.Reset(b)
	err := fn(d)
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	if err == nil && d.r.Len() > 0 {
		err = fmt.Errorf("%d trailing bytes", d.r.Len())
	}
	d.r.Reset(nil)
	d.src = nil
	return err
}

// expect checks that ok accepts the next msgpack type code, without consuming it.
func (d *decoder) expect(what string, ok func(byte) bool) error {
	c, err := d.dec.PeekCode()
	if err != nil {
		return err
	}
	if !ok(c) {
		return fmt.Errorf("want %s, found msgpack code %#x", what, c)
	}
	return nil
}

func isUint(c byte) bool {
	return c <= msgpcode.PosFixedNumHigh || (c >= msgpcode.Uint8 && c <= msgpcode.Uint64)
}

func isArray(c byte) bool {
	return msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32
}

func isBool(c byte) bool { return c == msgpcode.False || c == msgpcode.True }

func (d *decoder) uint() (uint64, error) {
	if err := d.expect("uint", isUint); err != nil {
		return 0, err
	}
	return d.dec.DecodeUint64()
}

// arrayLen reads an array header of a multiple of group elements, each at
// least one byte, and returns the number of groups.
func (d *decoder) arrayLen(group int) (int, error) {
	if err := d.expect("array", isArray); err != nil {
		return 0, err
	}
	n, err := d.dec.DecodeArrayLen()
	switch {
	case err != nil:
		return 0, err
	case n%group != 0:
		return 0, fmt.Errorf("array of %d elements, want a multiple of %d", n, group)
	case n < 0 || n > d.r.Len(): // n < 0: a uint32 length on a 32-bit platform
		return 0, fmt.Errorf("array of %d elements in %d bytes", n, d.r.Len())
	}
	return n / group, nil
}

// bytesLen reads a str or bin header and checks its length against the input.
func (d *decoder) bytesLen(what string, ok func(byte) bool) (int, error) {
	if err := d.expect(what, ok); err != nil {
		return 0, err
	}
	n, err := d.dec.DecodeBytesLen()
	if err == nil && (n < 0 || n > d.r.Len()) {
		err = fmt.Errorf("%s of %d bytes in %d", what, n, d.r.Len())
	}
	return n, err
}

// vv reads a flat clock array of at most maxEntries entries.
func (d *decoder) vv(maxEntries int) (VV, error) {
	n, err := d.arrayLen(2)
	if n == 0 || err != nil {
		return nil, err
	}
	if n > maxEntries {
		return nil, fmt.Errorf("%d entries, limit %d", n, maxEntries)
	}
	v := make(VV, n)
	for i := range v {
		a, err := d.uint()
		if err != nil {
			return nil, err
		}
		c, err := d.uint()
		if err != nil {
			return nil, err
		}
		v[i] = Entry{Actor(a), c}
	}
	return v, nil
}

// DecodeContext parses a context from EncodeContext. "" is the empty context
// (nil, no error). Anything else malformed, over MaxContextLen bytes, over
// MaxContextEntries entries, with a counter over MaxCounter, or failing
// Validate is refused with an error wrapping ErrBadContext.
func DecodeContext(s string) (VV, error) {
	if s == "" {
		return nil, nil
	}
	v, err := decodeContext(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadContext, err)
	}
	return v, nil
}

func decodeContext(s string) (VV, error) {
	if len(s) > MaxContextLen {
		return nil, fmt.Errorf("%d bytes, limit %d", len(s), MaxContextLen)
	}
	if strings.ContainsAny(s, "\r\n") { // the base64 decoder would skip them
		return nil, errors.New("line break in context")
	}
	raw, err := contextEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	var v VV
	err = withDecoder(raw, func(d *decoder) (err error) {
		v, err = d.vv(MaxContextEntries)
		return err
	})
	if err != nil {
		return nil, err
	}
	return v, checkContext(v)
}

func checkContext(v VV) error {
	for _, e := range v {
		if e.Counter > MaxCounter {
			return fmt.Errorf("counter %d over limit %d", e.Counter, uint64(MaxCounter))
		}
	}
	return v.Validate()
}

// UnmarshalSet decodes a Set encoded by MarshalBinary. It never panics, never
// allocates more than a small multiple of len(b), and refuses bytes that are not
// exactly one valid Set with an error wrapping ErrCorrupt. The result does not
// share memory with b; its values share one backing array.
func UnmarshalSet(b []byte) (Set, error) {
	return unmarshalSet(b, false)
}

// UnmarshalSetShared is UnmarshalSet without the copy of the values: each
// sibling's Value aliases b (capped at its length, so appending to it cannot
// write into b). Use it only when b is never modified again, for as long as
// the set or anything sharing its values (see MergeShared) is in use: a
// cached store value, an RPC body the caller owns. Everything else about the
// result (clock, sibling slice, content types) is its own.
func UnmarshalSetShared(b []byte) (Set, error) {
	return unmarshalSet(b, true)
}

func unmarshalSet(b []byte, shared bool) (Set, error) {
	var s Set
	err := withDecoder(b, func(d *decoder) (err error) {
		if shared {
			d.src = b
		}
		s, err = d.set()
		return err
	})
	if err == nil {
		err = s.Validate()
	}
	if err != nil {
		return Set{}, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return s, nil
}

func (d *decoder) set() (Set, error) {
	n, err := d.arrayLen(setFields)
	if err != nil {
		return Set{}, err
	}
	if n != 1 {
		return Set{}, fmt.Errorf("set of %d fields, want %d", n*setFields, setFields)
	}
	switch v, err := d.uint(); {
	case err != nil:
		return Set{}, err
	case v != setVersion:
		return Set{}, fmt.Errorf("unknown format version %d", v)
	}
	clock, err := d.vv(math.MaxInt) // bounded by len(b)
	if err != nil {
		return Set{}, err
	}
	sibs, err := d.siblings()
	return Set{Clock: clock, Siblings: sibs}, err
}

func (d *decoder) siblings() ([]Sibling, error) {
	n, err := d.arrayLen(siblingFields)
	if n == 0 || err != nil {
		return nil, err
	}
	sibs := make([]Sibling, n)
	// Values total less than the bytes left, so one arena of that size holds
	// them all without growing. Shared values need none.
	var arena []byte
	if d.src == nil {
		arena = make([]byte, 0, d.r.Len())
	}
	prev := ""
	for i := range sibs {
		if arena, err = d.sibling(&sibs[i], arena, prev); err != nil {
			return nil, err
		}
		prev = sibs[i].ContentType
	}
	return sibs, nil
}

// maxScratch bounds the scratch buffer a pooled decoder keeps.
const maxScratch = 256

// commonType is the content type most values carry (the HTTP API's default):
// decoding it takes no allocation.
const commonType = "application/octet-stream"

func (d *decoder) sibling(x *Sibling, arena []byte, prevType string) ([]byte, error) {
	a, err := d.uint()
	if err != nil {
		return arena, err
	}
	c, err := d.uint()
	if err != nil {
		return arena, err
	}
	x.Dot = Dot{Actor(a), c}
	if err := d.expect("bool", isBool); err != nil {
		return arena, err
	}
	if x.Deleted, err = d.dec.DecodeBool(); err != nil {
		return arena, err
	}
	ct, err := d.view("str", msgpcode.IsString)
	if err != nil {
		return arena, err
	}
	// Siblings of a key usually share a content type: reuse the string.
	switch {
	case string(ct) == prevType:
		x.ContentType = prevType
	case string(ct) == commonType:
		x.ContentType = commonType
	default:
		x.ContentType = string(ct)
	}
	if d.src != nil {
		x.Value, err = d.view("bin", msgpcode.IsBin)
		return arena, err
	}
	x.Value, arena, err = d.readInto(arena, "bin", msgpcode.IsBin)
	return arena, err
}

// view reads a str or bin header and returns its bytes without copying them
// when the input is kept (d.src), or in a scratch buffer valid until the
// next read otherwise. Empty is nil. The result is capped at its length.
func (d *decoder) view(what string, ok func(byte) bool) ([]byte, error) {
	n, err := d.bytesLen(what, ok)
	if n == 0 || err != nil {
		return nil, err
	}
	if d.src != nil {
		start := len(d.src) - d.r.Len()
		if _, err := d.r.Seek(int64(n), io.SeekCurrent); err != nil {
			return nil, err
		}
		return d.src[start : start+n : start+n], nil
	}
	var b []byte
	switch {
	case n > maxScratch: // do not keep a large buffer in the pool
		b = make([]byte, n)
	case cap(d.scratch) < n:
		d.scratch = make([]byte, maxScratch)
		fallthrough
	default:
		b = d.scratch[:n:n]
	}
	return b, d.dec.ReadFull(b)
}

// readInto reads a str or bin into the free capacity of arena and returns it
// capped at its length (nil if empty) and the extended arena.
func (d *decoder) readInto(arena []byte, what string, ok func(byte) bool) (b, rest []byte, err error) {
	n, err := d.bytesLen(what, ok)
	if n == 0 || err != nil {
		return nil, arena, err
	}
	start := len(arena)
	arena = arena[:start+n]
	b = arena[start : start+n : start+n]
	return b, arena, d.dec.ReadFull(b)
}
