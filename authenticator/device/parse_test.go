package device

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cibalab/cibalab/shared/channel"
)

func TestParseAuthRequest(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	valid := channel.AuthRequest{Version: 1, AuthReqID: "id-1", ClientID: "c", User: "alice",
		Scope: []string{"openid"}, CreatedAt: now.Unix(), ExpiresAt: now.Unix() + 120}
	with := func(f func(*channel.AuthRequest)) string {
		r := valid
		f(&r)
		b, _ := json.Marshal(r)
		return string(b)
	}
	tests := []struct {
		name, data string
		wantErr    string // substring; empty means accepted
	}{
		{"valid", with(func(*channel.AuthRequest) {}), ""},
		{"not JSON", "hello", "not JSON"},
		{"JSON array", "[1,2]", "not JSON"},
		{"null", "null", "version 0"},
		{"wrong version", with(func(r *channel.AuthRequest) { r.Version = 2 }), "version 2"},
		{"no auth_req_id", with(func(r *channel.AuthRequest) { r.AuthReqID = "" }), "auth_req_id"},
		{"no client_id", with(func(r *channel.AuthRequest) { r.ClientID = "" }), "client_id"},
		{"another user", with(func(r *channel.AuthRequest) { r.User = "bob" }), "another user"},
		{"expires now", with(func(r *channel.AuthRequest) { r.ExpiresAt = now.Unix() }), "expired"},
		{"too large", `{"v":1,"binding_message":"` + strings.Repeat("x", maxMessage) + `"}`, "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := parseAuthRequest([]byte(tt.data), "alice", now)
			if tt.wantErr == "" {
				if err != nil || r.AuthReqID != valid.AuthReqID {
					t.Fatalf("parseAuthRequest = %+v, %v; want the request", r, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "device: ") {
				t.Fatalf("error = %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func FuzzParseAuthRequest(f *testing.F) {
	now := time.Unix(1_700_000_000, 0)
	f.Add([]byte(`{"v":1,"auth_req_id":"a","client_id":"c","user":"alice","expires_at":1700000100}`))
	f.Add([]byte(`{"v":1,"auth_req_id":"a","client_id":"c","user":"bob","expires_at":1700000100}`))
	f.Add([]byte(`{"v":2}`))
	f.Add([]byte(`not json`))
	f.Add([]byte(`{"v":1,"scope":null,"acr_values":[1]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := parseAuthRequest(data, "alice", now)
		if err != nil {
			return
		}
		if r.Version != channel.Version || r.AuthReqID == "" || r.ClientID == "" || r.User != "alice" || r.ExpiresAt <= now.Unix() {
			t.Fatalf("accepted an invalid request: %+v", r)
		}
	})
}
