package authzdetails

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Param is the name of the request parameter, of the token response
// member, of the access token claim and of the introspection member
// (RFC 9396 §2, §7, §9.1, §9.2).
const Param = "authorization_details"

// ErrorCode is the OAuth error of an authorization_details value the OP
// refuses (RFC 9396 §5).
const ErrorCode = "invalid_authorization_details"

// The built-in types, validated field by field.
const (
	// TypePaymentInitiation asks to initiate one payment (RFC 9396 §1.1).
	TypePaymentInitiation = "payment_initiation"
	// TypeAccountInformation asks to read account information (RFC 9396
	// §1.1, §2.2).
	TypeAccountInformation = "account_information"
)

// BuiltinTypes returns the types whose fields this package validates; any
// other type a client is registered for is checked for shape only.
func BuiltinTypes() []string { return []string{TypePaymentInitiation, TypeAccountInformation} }

// Limits on what a request may carry, so that a request stays small on the
// wire, in the store and on a screen.
const (
	// MaxEntries is the largest number of entries in one request.
	MaxEntries = 16
	// MaxBytes is the largest encoded array accepted, in bytes.
	MaxBytes = 8 << 10
	// MaxTypeLen is the longest type value, in bytes.
	MaxTypeLen = 128
)

// Detail is one authorization details object (RFC 9396 §2): its type and
// the object as the client sent it, compacted.
type Detail struct {
	Type string
	Raw  json.RawMessage
}

// MarshalJSON writes the object as it was sent.
func (d Detail) MarshalJSON() ([]byte, error) {
	if len(d.Raw) == 0 {
		return nil, errors.New("authzdetails: empty detail")
	}
	return d.Raw, nil
}

// UnmarshalJSON reads one object and its type; it checks the shape of
// [Parse] for one entry.
func (d *Detail) UnmarshalJSON(b []byte) error {
	got, err := parseEntry(b)
	if err != nil {
		return err
	}
	*d = got
	return nil
}

// Details is an authorization_details array.
type Details []Detail

// Error is a refused authorization_details value: which entry (Index, from
// 0; -1 for the array as a whole) and why, in words fit for an
// error_description.
type Error struct {
	Index  int
	Reason string
}

func (e *Error) Error() string {
	if e.Index < 0 {
		return "authorization_details: " + e.Reason
	}
	return fmt.Sprintf("authorization_details[%d]: %s", e.Index, e.Reason)
}

func arrayErr(format string, args ...any) error {
	return &Error{Index: -1, Reason: fmt.Sprintf(format, args...)}
}

func entryErr(i int, format string, args ...any) error {
	return &Error{Index: i, Reason: fmt.Sprintf(format, args...)}
}

// Parse reads an authorization_details value (RFC 9396 §2): a JSON array
// of 1 to MaxEntries objects, each with a non-empty string type, whose
// common data fields (§2.2: locations, actions, datatypes, privileges as
// arrays of strings, identifier as a string) have their types, at most
// MaxBytes in all. Its errors are *Error.
func Parse(data []byte) (Details, error) {
	if len(data) > MaxBytes {
		return nil, arrayErr("longer than %d bytes", MaxBytes)
	}
	var raws []json.RawMessage
	if err := strictDecode(data, &raws); err != nil || raws == nil {
		return nil, arrayErr("must be a JSON array of objects")
	}
	switch {
	case len(raws) == 0:
		return nil, arrayErr("must not be empty")
	case len(raws) > MaxEntries:
		return nil, arrayErr("has more than %d entries", MaxEntries)
	}
	out := make(Details, 0, len(raws))
	for i, raw := range raws {
		d, err := parseEntry(raw)
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				e.Index = i
			}
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// commonFields are the common data fields of RFC 9396 §2.2.
type commonFields struct {
	Type       string   `json:"type"`
	Locations  []string `json:"locations,omitempty"`
	Actions    []string `json:"actions,omitempty"`
	Datatypes  []string `json:"datatypes,omitempty"`
	Identifier string   `json:"identifier,omitempty"`
	Privileges []string `json:"privileges,omitempty"`
}

func parseEntry(raw []byte) (Detail, error) {
	var obj map[string]json.RawMessage
	if err := strictDecode(raw, &obj); err != nil || obj == nil {
		return Detail{}, entryErr(0, "must be a JSON object")
	}
	var typ string
	if t, ok := obj["type"]; !ok || json.Unmarshal(t, &typ) != nil || typ == "" {
		return Detail{}, entryErr(0, "type is required and must be a non-empty string")
	}
	if len(typ) > MaxTypeLen || !printable(typ) {
		return Detail{}, entryErr(0, "type must be at most %d printable characters", MaxTypeLen)
	}
	var c commonFields
	for _, f := range []string{"locations", "actions", "datatypes", "privileges"} {
		if v, ok := obj[f]; ok {
			var ss []string
			if json.Unmarshal(v, &ss) != nil || ss == nil {
				return Detail{}, entryErr(0, "%s must be an array of strings (RFC 9396 §2.2)", f)
			}
		}
	}
	if v, ok := obj["identifier"]; ok {
		var s string
		if json.Unmarshal(v, &s) != nil {
			return Detail{}, entryErr(0, "identifier must be a string (RFC 9396 §2.2)")
		}
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return Detail{}, entryErr(0, "malformed common fields")
	}
	for _, l := range c.Locations {
		if u, err := url.Parse(l); err != nil || !u.IsAbs() {
			return Detail{}, entryErr(0, "locations must hold absolute URIs (RFC 9396 §2.2)")
		}
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return Detail{}, entryErr(0, "must be a JSON object")
	}
	return Detail{Type: typ, Raw: buf.Bytes()}, nil
}

// strictDecode decodes exactly one JSON value into v, with numbers kept
// exact.
func strictDecode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	return nil
}

// Validate checks ds against the types a client may use (RFC 9396 §5, the
// client metadata authorization_details_types of §10.2): each entry's type
// must be one of allowed; entries of a built-in type must have exactly
// that type's fields with valid values (see [PaymentInitiation] and
// [AccountInformation]); entries of other types have passed the shape
// checks of [Parse]. Its errors are *Error.
func Validate(ds Details, allowed []string) error {
	for i, d := range ds {
		if !slices.Contains(allowed, d.Type) {
			return entryErr(i, "type %q is not one this client may use", safe(d.Type))
		}
		var err error
		switch d.Type {
		case TypePaymentInitiation:
			_, err = decodePayment(d.Raw)
		case TypeAccountInformation:
			_, err = decodeAccount(d.Raw)
		}
		if err != nil {
			return entryErr(i, "%s", err.Error())
		}
	}
	return nil
}

// Marshal encodes ds as a compact JSON array; nil for no entries.
func (ds Details) Marshal() json.RawMessage {
	if len(ds) == 0 {
		return nil
	}
	var b bytes.Buffer
	b.WriteByte('[')
	for i, d := range ds {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(d.Raw)
	}
	b.WriteByte(']')
	return b.Bytes()
}

// Types returns the distinct types of ds, in order.
func (ds Details) Types() []string {
	var out []string
	for _, d := range ds {
		if !slices.Contains(out, d.Type) {
			out = append(out, d.Type)
		}
	}
	return out
}

// Select returns the entries of ds at the indexes approved, in the order
// of ds: the details a person granted (cibalab's partial approval). A nil
// approved selects every entry. An index out of range or given twice is
// an error; an empty, non-nil approved selects nothing, which callers
// treat as a denial.
func (ds Details) Select(approved []int) (Details, error) {
	if approved == nil {
		return slices.Clone(ds), nil
	}
	seen := make([]bool, len(ds))
	for _, i := range approved {
		if i < 0 || i >= len(ds) {
			return nil, fmt.Errorf("authzdetails: approved index %d is not an entry of the request (0 to %d)", i, len(ds)-1)
		}
		if seen[i] {
			return nil, fmt.Errorf("authzdetails: approved index %d is given twice", i)
		}
		seen[i] = true
	}
	var out Details
	for i, d := range ds {
		if seen[i] {
			out = append(out, d)
		}
	}
	return out, nil
}

// Equal reports whether a and b hold the same entries in the same order,
// compared as JSON values (member order and spacing do not matter).
func Equal(a, b Details) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		var x, y any
		if json.Unmarshal(a[i].Raw, &x) != nil || json.Unmarshal(b[i].Raw, &y) != nil {
			return false
		}
		xb, _ := json.Marshal(x)
		yb, _ := json.Marshal(y)
		if !bytes.Equal(xb, yb) {
			return false
		}
	}
	return true
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsGraphic(r) {
			return false
		}
	}
	return true
}

// safe cuts and cleans an untrusted value for an error description.
func safe(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return strings.Map(func(r rune) rune {
		if !unicode.IsGraphic(r) {
			return '?'
		}
		return r
	}, s)
}
