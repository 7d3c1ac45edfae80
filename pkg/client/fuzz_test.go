package client

import (
	"encoding/json"
	"errors"
	"testing"
)

// Each fuzz target checks that a decoder never panics, refuses only with a
// coded *Error, and that what it accepts survives an encode/decode round trip.

func checkRefusal(t *testing.T, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || (e.Code != CodeBadRequest && e.Code != CodeTooLarge) || e.Message == "" {
		t.Fatalf("refusal is not a coded bad_request/too_large error: %#v", err)
	}
}

func FuzzDecodeSubmitRequest(f *testing.F) {
	for _, s := range []string{
		`{"jobs":[{"type":"echo","payload":{"hi":1}}]}`,
		`{"jobs":[{"type":"sleep","payload":{"ms":200},"queue":"q","priority":-3,"max_attempts":5,"timeout":"30s","delay":1500}]}`,
		`{"jobs":[{"type":"echo","run_at":"2030-01-02T15:04:05Z","unique_key":"k","unique_ttl":"1h"}]}`,
		`{"jobs":[{"type":"a"},{"type":"b"},{"type":"c"}]}`,
		`{"jobs":[]}`, `{}`, `[]`, `null`, ``, `{"jobs":[{"type":"echo"}]} x`,
		`{"jobs":[{"type":"echo","payload":[[[[[[[[[[]]]]]]]]]]}]}`,
		`{"jobs":[{"type":"echo","delay":"-9223372036854775808ns"}]}`,
		`{"jobs":[{"type":"echo","delay":1e18}]}`,
	} {
		f.Add([]byte(s), 2)
	}
	f.Fuzz(func(t *testing.T, data []byte, max int) {
		req, err := DecodeSubmitRequest(data, max%1000)
		if err != nil {
			checkRefusal(t, err)
			return
		}
		if len(req.Jobs) == 0 {
			t.Fatal("accepted a request without jobs")
		}
		for _, j := range req.Jobs {
			_ = j.Validate() // must not panic
		}
		b, err := json.Marshal(req)
		if err != nil {
			// A decoded time can be outside what encoding/json writes; such a
			// job must then fail Validate.
			for _, j := range req.Jobs {
				if j.Validate() == nil {
					if _, err := json.Marshal(j); err != nil {
						t.Fatalf("valid job cannot be encoded: %v", err)
					}
				}
			}
			return
		}
		again, err := DecodeSubmitRequest(b, 0)
		if err != nil {
			t.Fatalf("re-encoded request %s refused: %v", b, err)
		}
		if len(again.Jobs) != len(req.Jobs) {
			t.Fatalf("round trip changed the job count")
		}
		for i := range req.Jobs {
			if req.Jobs[i].Delay != again.Jobs[i].Delay || req.Jobs[i].Type != again.Jobs[i].Type ||
				!req.Jobs[i].RunAt.Equal(again.Jobs[i].RunAt) {
				t.Fatalf("round trip changed job %d: %+v -> %+v", i, req.Jobs[i], again.Jobs[i])
			}
		}
	})
}

func fuzzID(f *testing.F, decode func([]byte) (string, error)) {
	for _, s := range []string{
		`{"id":"0123456789abcdef0123456789abcdef"}`, `{"id":"0123456789ABCDEF0123456789ABCDEF"}`,
		`{"id":""}`, `{}`, `{"id":1}`, `{"id":"x"} {}`, ``, `"id"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		id, err := decode(data)
		if err != nil {
			checkRefusal(t, err)
			return
		}
		if !ValidID(id) {
			t.Fatalf("accepted invalid ID %q", id)
		}
	})
}

func FuzzDecodeStatusRequest(f *testing.F) {
	fuzzID(f, func(b []byte) (string, error) { r, err := DecodeStatusRequest(b); return r.ID, err })
}

func FuzzDecodeCancelRequest(f *testing.F) {
	fuzzID(f, func(b []byte) (string, error) { r, err := DecodeCancelRequest(b); return r.ID, err })
}

func FuzzDecodeListRequest(f *testing.F) {
	for _, s := range []string{``, `{}`, `{"state":"dead","queue":"q","limit":10}`, `{"limit":-1}`, `{"state":"x"}`, `{"limit":1e9}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeListRequest(data)
		if err != nil {
			checkRefusal(t, err)
			return
		}
		if r.Limit < 1 || r.Limit > MaxListLimit || (r.State != "" && !ValidState(r.State)) {
			t.Fatalf("accepted %+v", r)
		}
	})
}

func FuzzDuration(f *testing.F) {
	for _, s := range []string{`"1.5s"`, `1500`, `0.001`, `-1`, `"-2562047h47m16.854775808s"`, `1e300`, `null`, `"x"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var d Duration
		if err := d.UnmarshalJSON(data); err != nil {
			return
		}
		b, err := d.MarshalJSON()
		if err != nil {
			t.Fatalf("marshal %v: %v", d.Std(), err)
		}
		var again Duration
		if err := again.UnmarshalJSON(b); err != nil || again != d {
			t.Fatalf("round trip of %s: %v -> %s -> %v (%v)", data, d.Std(), b, again.Std(), err)
		}
	})
}
