package vclock_test

import (
	"fmt"

	"github.com/dynkv/dynkv/vclock"
)

// Two clients read a key through replica A and both write back with the
// context they read; the writes are concurrent, so both survive as siblings
// until a write whose context covers both resolves them.
func Example() {
	const a, b vclock.Actor = 0xa, 0xb // store incarnation ids of two replicas
	var key vclock.Set

	key, _ = key.Update(nil, a, []byte("v1"), "text/plain", false)
	ctx := vclock.EncodeContext(key.Clock) // handed to clients with the read

	read, _ := vclock.DecodeContext(ctx)
	atA, _ := key.Update(read, a, []byte("from client 1"), "text/plain", false)
	atB, _ := key.Update(read, b, []byte("from client 2"), "text/plain", false)
	key = vclock.Merge(atA, atB) // replicas sync
	for _, s := range key.Siblings {
		fmt.Printf("%v %s\n", s.Dot, s.Value)
	}

	key, dot := key.Update(key.Clock, b, []byte("merged"), "text/plain", false)
	fmt.Println(len(key.Siblings), "sibling after", dot, "clock", key.Clock)
	// Output:
	// a:2 from client 1
	// b:1 from client 2
	// 1 sibling after b:2 clock {a:2 b:2}
}
