package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"

	"github.com/dynkv/dynkv/client"
)

// etcdKV speaks etcd's v3 JSON gateway; keys and values travel base64
// encoded (encoding/json does that for []byte).
type etcdKV struct {
	http      *http.Client
	endpoints []string
	next      atomic.Uint64
}

func newEtcdKV(endpoints []string, conns int) *etcdKV {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = conns
	return &etcdKV{http: &http.Client{Transport: t, Timeout: requestTimeout}, endpoints: endpoints}
}

func (e *etcdKV) Close() { e.http.CloseIdleConnections() }

// post sends body to path on the next endpoint and decodes the answer.
func (e *etcdKV) post(ctx context.Context, path string, body, out any) error {
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	ep := e.endpoints[e.next.Add(1)%uint64(len(e.endpoints))]
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+ep+path, bytes.NewReader(data))
	if err != nil {
		return err
	}
	resp, err := e.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return &client.Error{Status: resp.StatusCode, Message: string(answer), Endpoint: ep}
	}
	return json.Unmarshal(answer, out)
}

func (e *etcdKV) Get(ctx context.Context, key string, _ ...client.Option) (*client.Object, error) {
	var out struct {
		KVs []struct {
			Value []byte `json:"value"`
		} `json:"kvs"`
	}
	if err := e.post(ctx, "/v3/kv/range", map[string][]byte{"key": []byte(key)}, &out); err != nil {
		return nil, err
	}
	if len(out.KVs) == 0 {
		return nil, &client.Error{Status: http.StatusNotFound, Message: "key not found"}
	}
	return &client.Object{Key: key, Siblings: []client.Sibling{{Value: out.KVs[0].Value}}}, nil
}

func (e *etcdKV) Put(ctx context.Context, key string, value []byte, _ ...client.Option) (*client.WriteResult, error) {
	var out struct {
		Header struct {
			Revision string `json:"revision"`
		} `json:"header"`
	}
	body := map[string][]byte{"key": []byte(key), "value": value}
	if err := e.post(ctx, "/v3/kv/put", body, &out); err != nil {
		return nil, err
	}
	if out.Header.Revision == "" {
		return nil, fmt.Errorf("etcd put %q: no revision in the answer", key)
	}
	return &client.WriteResult{}, nil
}
