package store

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestPackRoundTrip: a packed request unpacks to exactly the request it
// was packed from, whatever fields are set, and the unpacked slices are
// the caller's own.
func TestPackRoundTrip(t *testing.T) {
	now := time.Now() // with a monotonic reading
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		paris = time.FixedZone("CET", 3600)
	}
	full := &Request{
		ID: "id", ClientID: "client", User: "user", Scope: []string{"openid", "profile"},
		BindingMessage: "bm", ACRValues: []string{"urn:a"}, NotificationToken: "nt", CertThumbprint: "x5t",
		NotifyAttempts: 2, NotifiedAt: now.Add(time.Second), ExpiryPushedAt: now.Add(2 * time.Second).In(paris),
		CreatedAt: now, ExpiresAt: now.Add(time.Minute).UTC(), Interval: 5 * time.Second, LastPoll: now.Add(3 * time.Second),
		Polls: 7, Status: StatusRedeemed, DecidedAt: now.Add(4 * time.Second), DecidedBy: "dev",
		ACR: "urn:cibalab:acr:pin", AMR: []string{"pin", "swk"}, AuthTime: now.Add(4 * time.Second), RedeemedAt: now.Add(5 * time.Second),
		AuthorizationDetails: `[{"type":"a"},{"type":"b"}]`, GrantedDetails: `[{"type":"b"}]`,
		Revision: 42,
	}
	tests := []struct {
		name string
		r    *Request
	}{
		{"every field", full},
		{"pending", &Request{ID: "id", ClientID: "c", User: "u", Scope: []string{"openid"}, Status: StatusPending,
			CreatedAt: now, ExpiresAt: now.Add(time.Minute), Interval: time.Second}},
		{"empty, not nil, slices", &Request{ID: "id", Scope: []string{}, ACRValues: []string{}, AMR: []string{}}},
		{"zero instant in another location", &Request{ID: "id", DecidedAt: time.Time{}.In(paris)}},
		{"only a notification", &Request{ID: "id", NotifyAttempts: 1}},
		{"only granted details", &Request{ID: "id", GrantedDetails: `[{"type":"a"}]`}},
		{"zero", &Request{}},
		{"lists of odd strings", &Request{ID: "id", Scope: []string{"", "a b", "\x00\x01", strings.Repeat("s", 300)},
			ACRValues: []string{""}, AMR: []string{"", ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.r.Clone()
			p := pack(tt.r, nil)
			if got := p.unpack(tt.r.ID); !reflect.DeepEqual(got, want) {
				t.Fatalf("unpack(pack(r)) =\n%+v\nwant\n%+v", got, want)
			}
			// An update that changes nothing keeps the row equal too.
			if got := pack(p.unpack(tt.r.ID), p).unpack(tt.r.ID); !reflect.DeepEqual(got, want) {
				t.Fatalf("repacked =\n%+v\nwant\n%+v", got, want)
			}
		})
	}
	p := pack(full, nil)
	got := p.unpack("id")
	got.Scope[0], got.AMR[0], got.ACRValues[0] = "x", "x", "x"
	if again := p.unpack("id"); again.Scope[0] != "openid" || again.AMR[0] != "pin" || again.ACRValues[0] != "urn:a" {
		t.Fatalf("a change to an unpacked slice reached the row: %+v", again)
	}
	// An update that changes a slice is stored, not the previous one.
	next := p.unpack("id")
	next.Scope = append(next.Scope, "email")
	next.AMR = nil
	if r := pack(next, p).unpack("id"); len(r.Scope) != 3 || r.AMR != nil {
		t.Fatalf("update lost: %+v", r)
	}
}
