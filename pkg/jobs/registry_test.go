package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
)

func TestRegistry(t *testing.T) {
	r := NewRegistry()
	h := func(ctx context.Context, j Job) (json.RawMessage, error) { return nil, nil }
	if err := r.Register("b", h); err != nil {
		t.Fatal(err)
	}
	if err := r.Register("a", h); err != nil {
		t.Fatal(err)
	}
	if err := r.Register("a", h); !errors.Is(err, ErrDuplicateHandler) {
		t.Fatalf("duplicate: %v", err)
	}
	if err := r.Register("", h); err == nil {
		t.Fatal("empty type accepted")
	}
	if err := r.Register("bad type", h); err == nil {
		t.Fatal("bad type accepted")
	}
	if err := r.Register("c", nil); err == nil {
		t.Fatal("nil handler accepted")
	}
	if _, ok := r.Lookup("a"); !ok {
		t.Fatal("a not found")
	}
	if _, ok := r.Lookup("z"); ok {
		t.Fatal("z found")
	}
	if got := r.Types(); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Fatalf("Types() = %v", got)
	}
}

func TestRegisterFunc(t *testing.T) {
	type in struct{ N int }
	type out struct{ Double int }
	r := NewRegistry()
	err := RegisterFunc(r, "double", func(ctx context.Context, v in) (out, error) {
		if v.N < 0 {
			return out{}, Permanent(fmt.Errorf("negative: %d", v.N))
		}
		if v.N == 13 {
			return out{}, errors.New("unlucky")
		}
		return out{Double: 2 * v.N}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := r.Lookup("double")
	tests := []struct {
		payload   string
		want      string
		wantErr   bool
		permanent bool
	}{
		{`{"N":21}`, `{"Double":42}`, false, false},
		{``, `{"Double":0}`, false, false},
		{`null`, `{"Double":0}`, false, false},
		{`{"N":"x"}`, ``, true, true},
		{`{"N":-1}`, ``, true, true},
		{`{"N":13}`, ``, true, false},
	}
	for _, tt := range tests {
		res, err := h(context.Background(), Job{Type: "double", Payload: json.RawMessage(tt.payload)})
		if (err != nil) != tt.wantErr || IsPermanent(err) != tt.permanent {
			t.Errorf("payload %s: err = %v (permanent %v)", tt.payload, err, IsPermanent(err))
			continue
		}
		if string(res) != tt.want {
			t.Errorf("payload %s: result %s, want %s", tt.payload, res, tt.want)
		}
	}
}

func TestPermanent(t *testing.T) {
	if Permanent(nil) != nil {
		t.Fatal("Permanent(nil) != nil")
	}
	base := errors.New("bad")
	p := Permanent(base)
	if !IsPermanent(p) || !errors.Is(p, base) || p.Error() != "bad" {
		t.Fatalf("Permanent: %v", p)
	}
	if !IsPermanent(fmt.Errorf("wrapped: %w", p)) {
		t.Fatal("wrapped permanent not detected")
	}
	if IsPermanent(base) || IsPermanent(nil) {
		t.Fatal("plain error is permanent")
	}
	if Permanent(p) != p {
		t.Fatal("Permanent twice wraps twice")
	}
}
