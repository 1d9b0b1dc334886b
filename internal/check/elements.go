package check

import (
	"errors"
	"fmt"
	"slices"

	"github.com/dynkv/dynkv/vclock"
)

// EncodeElements returns the canonical encoding of elems (see "Value
// encoding" in the package documentation). It
// never fails: elements may hold any bytes, newlines and backslashes
// included. elems is not modified. The result is never nil.
func EncodeElements(elems []string) []byte {
	sorted := slices.Clone(elems)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	n := 0
	for _, e := range sorted {
		n += len(e) + 1
	}
	out := make([]byte, 0, n)
	for _, e := range sorted {
		for i := 0; i < len(e); i++ {
			switch c := e[i]; c {
			case '\\':
				out = append(out, '\\', '\\')
			case '\n':
				out = append(out, '\\', 'n')
			default:
				out = append(out, c)
			}
		}
		out = append(out, '\n')
	}
	return out
}

// ErrBadElements is wrapped by every error DecodeElements returns.
var ErrBadElements = errors.New("check: not a canonical element list")

// DecodeElements decodes a value written by EncodeElements: the elements,
// sorted and distinct (nil for an empty value). It refuses, with an error
// wrapping ErrBadElements, anything EncodeElements cannot produce: a missing
// final newline (a truncated value), an unknown escape, elements out of order
// or repeated (values concatenated or spliced).
func DecodeElements(b []byte) ([]string, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if b[len(b)-1] != '\n' {
		return nil, fmt.Errorf("%w: no newline after the last element (truncated?)", ErrBadElements)
	}
	var out []string
	buf := make([]byte, 0, 64)
	line := 1
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '\n':
			e := string(buf)
			if n := len(out); n > 0 {
				switch prev := out[n-1]; {
				case e == prev:
					return nil, fmt.Errorf("%w: element %d %q repeated", ErrBadElements, line, e)
				case e < prev:
					return nil, fmt.Errorf("%w: element %d %q sorts before %q", ErrBadElements, line, e, prev)
				}
			}
			out = append(out, e)
			buf = buf[:0]
			line++
		case '\\':
			if i+1 >= len(b) {
				return nil, fmt.Errorf("%w: element %d ends in a lone backslash", ErrBadElements, line)
			}
			i++
			switch b[i] {
			case '\\':
				buf = append(buf, '\\')
			case 'n':
				buf = append(buf, '\n')
			default:
				return nil, fmt.Errorf("%w: element %d has unknown escape \\%q", ErrBadElements, line, b[i])
			}
		default:
			buf = append(buf, c)
		}
	}
	return out, nil
}

// UnionSiblings decodes each sibling's value and returns the union of their
// elements, sorted and distinct (nil if none). An empty value contributes
// nothing; callers pass only live siblings (a tombstone has no elements). The
// error names the first sibling, by index, that does not decode.
func UnionSiblings(values [][]byte) ([]string, error) {
	var all []string
	for i, v := range values {
		elems, err := DecodeElements(v)
		if err != nil {
			return nil, fmt.Errorf("sibling %d: %w", i, err)
		}
		all = append(all, elems...)
	}
	if len(all) == 0 {
		return nil, nil
	}
	slices.Sort(all)
	return slices.Compact(all), nil
}

// SetElements is UnionSiblings over the live (non-tombstone) siblings of a
// replica's stored state, for harnesses that read replicas directly. A nil
// set has no elements.
func SetElements(s *vclock.Set) ([]string, error) {
	if s == nil {
		return nil, nil
	}
	var values [][]byte
	for _, x := range s.Live() {
		values = append(values, x.Value)
	}
	return UnionSiblings(values)
}
