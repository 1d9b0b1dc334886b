package client_test

import (
	"context"
	"errors"
	"log"
	"strings"

	"github.com/dynkv/dynkv/client"
)

// The usual cycle: write, read, and on a conflict write a merge of the
// siblings back with the read's context, which supersedes all of them.
func ExampleClient() {
	ctx := context.Background()
	c, err := client.New(client.Config{Endpoints: []string{"127.0.0.1:8001", "127.0.0.1:8002"}})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	if _, err := c.Put(ctx, "cart:alice", []byte("milk"), client.W(2)); err != nil {
		log.Fatal(err)
	}
	obj, err := c.Get(ctx, "cart:alice", client.R(2))
	if errors.Is(err, client.ErrNotFound) {
		return
	} else if err != nil {
		log.Fatal(err)
	}
	if obj.Conflict() {
		var items []string
		for _, s := range obj.Siblings {
			items = append(items, string(s.Value)) // an application-specific merge
		}
		merged := []byte(strings.Join(items, ","))
		if _, err := c.Put(ctx, "cart:alice", merged, client.WithContext(obj.Context)); err != nil {
			log.Fatal(err)
		}
	}
}
