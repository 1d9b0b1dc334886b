package client

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"reflect"
	"testing"
)

// FuzzDecodeResponse feeds arbitrary answers to the client's decoders of a
// read (JSON, a raw value, multipart/mixed siblings), of an error and of
// the status document, as a broken node or a proxy in the way could send
// them. Nothing may panic; a decoded read has at least one sibling, none
// nil, and its siblings survive re-encoding in the same form; an error
// always carries its status and a message, the node's own if it sent one.
func FuzzDecodeResponse(f *testing.F) {
	multi := "--b\r\nContent-Type: text/plain\r\n\r\none\r\n--b\r\n\r\n\r\n--b--\r\n"
	f.Add(300, true, "multipart/mixed; boundary=b", []byte(multi))
	f.Add(300, true, "multipart/mixed; boundary=b", []byte("--b\r\n\r\nx\r\n--b"))
	f.Add(300, true, "multipart/mixed", []byte(multi))
	f.Add(300, true, "text/plain; boundary=b", []byte(multi))
	f.Add(200, true, "image/png", []byte{0x89, 'P', 'N', 'G'})
	f.Add(200, false, "application/json", []byte(`{"context":"kgEB","siblings":[{"value":"aGk=","content_type":"text/plain"}]}`))
	f.Add(200, false, "application/json", []byte(`{"siblings":[]}`))
	f.Add(200, false, "application/json", []byte(`{"siblings":[{"value":"not base64"}]}`))
	f.Add(503, false, "application/json", []byte(`{"error":"write quorum not met","needed":2,"acked":1,"replied":1}`))
	f.Add(404, false, "application/json", []byte(`{"error":""}`))
	f.Add(599, false, "", []byte("<html>bad gateway</html>"))
	f.Add(200, false, "application/json", []byte(`{"node":"n1","ring":{"members":[]},"partitions":64}`))
	f.Fuzz(func(t *testing.T, status int, raw bool, contentType string, body []byte) {
		header := http.Header{"Content-Type": {contentType}}
		if raw {
			header.Set(headerForm, formRaw)
		}
		resp := &response{endpoint: "fuzz:1", status: status, header: header, body: body}
		if obj, err := decodeObject("k", resp); err == nil {
			if len(obj.Siblings) == 0 {
				t.Fatal("decoded an object with no siblings")
			}
			for _, s := range obj.Siblings {
				if s.Value == nil {
					t.Fatal("a sibling's value is nil")
				}
			}
			if raw && status != http.StatusOK {
				checkMultipartRoundTrip(t, obj.Siblings)
			}
			if !raw {
				checkJSONRoundTrip(t, obj)
			}
		}

		e := newError(resp)
		if e.Status != status || e.Message == "" || e.Endpoint != "fuzz:1" {
			t.Fatalf("newError = %+v", e)
		}
		var eb errorBody
		if json.Unmarshal(body, &eb) == nil && eb.Error != "" && e.Message != eb.Error {
			t.Fatalf("error message %q, body says %q", e.Message, eb.Error)
		}

		st := &Status{}
		if err := json.Unmarshal(body, st); err == nil {
			again := &Status{}
			b, err := json.Marshal(st)
			if err != nil {
				t.Fatalf("status %+v does not encode: %v", st, err)
			}
			if err := json.Unmarshal(b, again); err != nil || !reflect.DeepEqual(st, again) {
				t.Fatalf("status %+v re-encoded decodes as %+v, %v", st, again, err)
			}
		}
	})
}

// checkMultipartRoundTrip writes sibs as a node would and parses them back.
func checkMultipartRoundTrip(t *testing.T, sibs []Sibling) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, s := range sibs {
		h := textproto.MIMEHeader{}
		if s.ContentType != "" {
			h.Set("Content-Type", s.ContentType)
		}
		pw, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		pw.Write(s.Value)
	}
	mw.Close()
	back, err := parseMultipart("multipart/mixed; boundary="+mw.Boundary(), buf.Bytes())
	if err != nil {
		t.Fatalf("re-encoded siblings do not parse: %v", err)
	}
	if !reflect.DeepEqual(back, sibs) {
		t.Fatalf("siblings %q re-encoded parse as %q", sibs, back)
	}
}

// checkJSONRoundTrip writes obj in the JSON form and decodes it back.
func checkJSONRoundTrip(t *testing.T, obj *Object) {
	t.Helper()
	var doc jsonObject
	doc.Context = obj.Context
	for _, s := range obj.Siblings {
		doc.Siblings = append(doc.Siblings, struct {
			Value       []byte `json:"value"`
			ContentType string `json:"content_type"`
		}{s.Value, s.ContentType})
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	back, err := decodeObject(obj.Key, &response{status: http.StatusOK, header: http.Header{}, body: b})
	if err != nil || !reflect.DeepEqual(back.Siblings, obj.Siblings) || back.Context != obj.Context {
		t.Fatalf("object %+v re-encoded decodes as %+v, %v", obj, back, err)
	}
}
