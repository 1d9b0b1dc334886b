package vclock

import (
	"encoding/binary"
	"fmt"
)

// Summary is what Peek reads from an encoded Set.
type Summary struct {
	// Siblings is the number of versions stored, tombstones included.
	Siblings int
	// ContextBytes is the length of the set's context as EncodeContext
	// writes it (what a client carries in X-Dynkv-Context); 0 for an empty
	// clock.
	ContextBytes int
}

// Peek reads the sibling count and context size of an encoded Set (as
// MarshalBinary writes it) from its headers alone, without decoding the
// siblings or allocating: for watching every write go by. It checks only
// what it reads; bytes UnmarshalSet accepts always peek without error and
// to the same counts.
func Peek(b []byte) (Summary, error) {
	p := peeker{b: b}
	if n := p.arrayLen(); n != setFields {
		return Summary{}, p.fail("set of %d fields", n)
	}
	if v := p.uint(); v != setVersion {
		return Summary{}, p.fail("format version %d", v)
	}
	clockLen := p.arrayLen()
	if clockLen%2 != 0 || clockLen > len(p.b) {
		return Summary{}, p.fail("clock of %d fields", clockLen)
	}
	start := p.off
	for range clockLen {
		p.uint()
	}
	var s Summary
	if n := p.off - start; clockLen > 0 && p.err == nil {
		// EncodeContext writes the clock's own array header as well.
		s.ContextBytes = contextEncoding.EncodedLen(n + arrayHeaderLen(clockLen))
	}
	sibFields := p.arrayLen()
	// Each sibling takes at least five bytes: a count that the rest of b
	// cannot hold is corrupt.
	if sibFields%siblingFields != 0 || sibFields > len(p.b)-p.off {
		return Summary{}, p.fail("siblings of %d fields", sibFields)
	}
	if p.err != nil {
		return Summary{}, p.err
	}
	s.Siblings = sibFields / siblingFields
	return s, nil
}

// arrayHeaderLen is the size of msgpack's shortest header for an array of n.
func arrayHeaderLen(n int) int {
	switch {
	case n < 16:
		return 1
	case n <= 0xffff:
		return 3
	default:
		return 5
	}
}

// peeker reads msgpack headers; the first error sticks and later reads
// return zero.
type peeker struct {
	b   []byte
	off int
	err error
}

func (p *peeker) fail(format string, args ...any) error {
	if p.err != nil {
		return p.err
	}
	return fmt.Errorf("%w: peek: "+format, append([]any{ErrCorrupt}, args...)...)
}

// take returns the next n bytes, or nil (and an error) past the end.
func (p *peeker) take(n int) []byte {
	if p.err != nil {
		return nil
	}
	if n > len(p.b)-p.off {
		p.err = fmt.Errorf("%w: peek: truncated at byte %d", ErrCorrupt, p.off)
		return nil
	}
	out := p.b[p.off : p.off+n]
	p.off += n
	return out
}

func (p *peeker) code() (byte, bool) {
	c := p.take(1)
	if c == nil {
		return 0, false
	}
	return c[0], true
}

func (p *peeker) arrayLen() int {
	c, ok := p.code()
	switch {
	case !ok:
		return 0
	case c >= 0x90 && c <= 0x9f:
		return int(c & 0x0f)
	case c == 0xdc:
		if b := p.take(2); b != nil {
			return int(binary.BigEndian.Uint16(b))
		}
	case c == 0xdd:
		if b := p.take(4); b != nil {
			return int(binary.BigEndian.Uint32(b))
		}
	default:
		p.err = fmt.Errorf("%w: peek: want an array, found msgpack code %#x", ErrCorrupt, c)
	}
	return 0
}

func (p *peeker) uint() uint64 {
	c, ok := p.code()
	switch {
	case !ok:
		return 0
	case c <= 0x7f:
		return uint64(c)
	case c == 0xcc:
		if b := p.take(1); b != nil {
			return uint64(b[0])
		}
	case c == 0xcd:
		if b := p.take(2); b != nil {
			return uint64(binary.BigEndian.Uint16(b))
		}
	case c == 0xce:
		if b := p.take(4); b != nil {
			return uint64(binary.BigEndian.Uint32(b))
		}
	case c == 0xcf:
		if b := p.take(8); b != nil {
			return binary.BigEndian.Uint64(b)
		}
	default:
		p.err = fmt.Errorf("%w: peek: want an unsigned integer, found msgpack code %#x", ErrCorrupt, c)
	}
	return 0
}
