package node

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// errMalformedMsg is returned for msgpack bytes that declare more elements
// or bytes than they hold, or nest deeper than any message of ours.
var errMalformedMsg = errors.New("malformed msgpack")

// maxMsgDepth bounds the nesting of arrays and maps in a message: ours nest
// four deep at most.
const maxMsgDepth = 32

// maxMsgElems bounds the elements of one array or map. msgpack/v5 allocates
// a slice for the whole declared length before decoding an element (its
// own sliceAllocLimit is never applied: decode_slice.go tests the flag with
// "!= 1"), and an element of ours can take 56 bytes or more for one byte of
// input (nil), so "no more elements than bytes left" alone still lets a
// 64 MiB frame ask for gigabytes. Our largest arrays are anti-entropy leaf
// indices, at most antientropy.MaxLeaves.
const maxMsgElems = 1 << 20

// unmarshalMsg is msgpack.Unmarshal for bytes from outside this process
// (RPC bodies, gossip, stored state). msgpack/v5 allocates a slice of a
// struct type for the whole length an array header declares before reading
// any element, so a few bytes declaring 2^32 elements ask for hundreds of
// gigabytes; checkMsg refuses such input first.
func unmarshalMsg(b []byte, v any) error {
	if err := checkMsg(b); err != nil {
		return err
	}
	return msgpack.Unmarshal(b, v)
}

// checkMsg walks the first msgpack value in b without decoding it and
// checks that every array and map declares no more elements than bytes
// remain (each element takes at least one), that every str, bin and ext
// fits in what remains, and that nesting stays within maxMsgDepth. Bytes
// after the value are ignored, as msgpack.Unmarshal ignores them.
func checkMsg(b []byte) error {
	var open []int // values left to read in each enclosing array or map
	left := 1      // values left to read at the current level
	for {
		for left == 0 {
			if len(open) == 0 {
				return nil
			}
			left, open = open[len(open)-1], open[:len(open)-1]
		}
		if len(b) == 0 {
			return fmt.Errorf("%w: truncated", errMalformedMsg)
		}
		c := b[0]
		b = b[1:]
		left--
		var skip, lenSize, extra int // payload bytes; bytes of a length that follows; bytes before the payload
		elems := 0                   // values in an array or map
		isArray, isMap := false, false
		switch {
		case c <= 0x7f || c >= 0xe0: // fixints
		case c <= 0x8f:
			elems = 2 * int(c&0x0f)
		case c <= 0x9f:
			elems = int(c & 0x0f)
		case c <= 0xbf:
			skip = int(c & 0x1f)
		default:
			switch c {
			case 0xc0, 0xc2, 0xc3: // nil, false, true
			case 0xc4, 0xd9: // bin8, str8
				lenSize = 1
			case 0xc5, 0xda: // bin16, str16
				lenSize = 2
			case 0xc6, 0xdb: // bin32, str32
				lenSize = 4
			case 0xc7: // ext8: length, type, data
				lenSize, extra = 1, 1
			case 0xc8:
				lenSize, extra = 2, 1
			case 0xc9:
				lenSize, extra = 4, 1
			case 0xca, 0xce, 0xd2: // float32, uint32, int32
				skip = 4
			case 0xcb, 0xcf, 0xd3: // float64, uint64, int64
				skip = 8
			case 0xcc, 0xd0: // uint8, int8
				skip = 1
			case 0xcd, 0xd1: // uint16, int16
				skip = 2
			case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1, 2, 4, 8, 16: type, data
				skip = 1 + 1<<(c-0xd4)
			case 0xdc:
				lenSize, isArray = 2, true
			case 0xdd:
				lenSize, isArray = 4, true
			case 0xde:
				lenSize, isMap = 2, true
			case 0xdf:
				lenSize, isMap = 4, true
			default: // 0xc1 is never used
				return fmt.Errorf("%w: unused code 0x%x", errMalformedMsg, c)
			}
		}
		if lenSize > 0 {
			if len(b) < lenSize {
				return fmt.Errorf("%w: truncated length", errMalformedMsg)
			}
			var n uint64
			switch lenSize {
			case 1:
				n = uint64(b[0])
			case 2:
				n = uint64(binary.BigEndian.Uint16(b))
			default:
				n = uint64(binary.BigEndian.Uint32(b))
			}
			b = b[lenSize:]
			if n > uint64(len(b)) { // also bounds an element count: each takes a byte
				return fmt.Errorf("%w: length %d with %d bytes left", errMalformedMsg, n, len(b))
			}
			switch {
			case isArray:
				elems = int(n)
			case isMap:
				elems = 2 * int(n)
			default:
				skip = extra + int(n)
			}
		}
		if elems > 2*maxMsgElems || isArray && elems > maxMsgElems {
			return fmt.Errorf("%w: %d elements, limit %d", errMalformedMsg, elems, maxMsgElems)
		}
		if skip > len(b) || elems > len(b) {
			return fmt.Errorf("%w: %d bytes or %d elements with %d bytes left", errMalformedMsg, skip, elems, len(b))
		}
		b = b[skip:]
		if elems > 0 {
			if len(open) == maxMsgDepth {
				return fmt.Errorf("%w: nested deeper than %d", errMalformedMsg, maxMsgDepth)
			}
			open = append(open, left)
			left = elems
		}
	}
}
