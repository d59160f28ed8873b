package authzdetails

import (
	"encoding/json"
	"math/big"
	"net/url"
	"slices"
	"strings"

	"github.com/cibalab/cibalab/shared/termtext"
)

// maxLine bounds the runes of one described entry.
const maxLine = 300

// Lines describes each entry of ds in words, in order: what a person
// reads on an authentication device before approving (CIBA Core 1.0 §8;
// RFC 9396 §11 leaves the presentation to the AS). See [Describe].
func (ds Details) Lines() []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = Describe(d)
	}
	return out
}

// Describe says in one line of words what entry d asks for:
//
//	payment_initiation:  Pay €1,000.00 to ACME GmbH, DE89 3704 0044 0532 0130 00 (reference "Invoice 4711")
//	account_information: List accounts, read balances at bank.example/accounts
//	other types:         Type customer_information: read, write at api.example/customers; datatypes contacts
//
// Values from the request are cleaned (no control or format characters,
// so a request cannot drive a terminal) and the line is cut at 300
// characters. An entry of a built-in type that does not validate is
// described as another type would be.
func Describe(d Detail) string {
	var s string
	switch d.Type {
	case TypePaymentInitiation:
		if p, err := decodePayment(d.Raw); err == nil {
			s = describePayment(p)
		}
	case TypeAccountInformation:
		if a, err := decodeAccount(d.Raw); err == nil {
			s = describeAccount(a)
		}
	}
	if s == "" {
		s = describeGeneric(d)
	}
	return cut(s)
}

func describePayment(p *PaymentInitiation) string {
	s := "Pay " + FormatAmount(p.InstructedAmount) + " to " + clean(p.CreditorName) + ", " + FormatIBAN(p.CreditorAccount.IBAN)
	if p.RemittanceInformationUnstructured != "" {
		s += ` (reference "` + clean(p.RemittanceInformationUnstructured) + `")`
	}
	return s
}

func describeAccount(a *AccountInformation) string {
	words := make([]string, 0, len(a.Actions))
	for _, act := range a.Actions {
		w := strings.ReplaceAll(act, "_", " ")
		if a.Identifier != "" && act != "list_accounts" {
			w += " of account " + clean(a.Identifier)
		}
		words = append(words, w)
	}
	s := joinWords(words)
	s = strings.ToUpper(s[:1]) + s[1:]
	return s + " at " + hosts(a.Locations)
}

func describeGeneric(d Detail) string {
	var obj map[string]json.RawMessage
	_ = json.Unmarshal(d.Raw, &obj)
	var c commonFields
	_ = json.Unmarshal(d.Raw, &c)
	s := "Type " + clean(d.Type)
	var parts []string
	if len(c.Actions) > 0 {
		parts = append(parts, strings.Join(cleanAll(c.Actions), ", "))
	}
	if c.Identifier != "" {
		parts = append(parts, "on "+clean(c.Identifier))
	}
	if len(c.Locations) > 0 {
		parts = append(parts, "at "+hosts(c.Locations))
	}
	if len(parts) > 0 {
		s += ": " + strings.Join(parts, " ")
	}
	var extra []string
	if len(c.Datatypes) > 0 {
		extra = append(extra, "datatypes "+strings.Join(cleanAll(c.Datatypes), ", "))
	}
	if len(c.Privileges) > 0 {
		extra = append(extra, "privileges "+strings.Join(cleanAll(c.Privileges), ", "))
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		switch k {
		case "type", "actions", "identifier", "locations", "datatypes", "privileges":
		default:
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		extra = append(extra, clean(k)+" "+valueWords(obj[k]))
	}
	if len(extra) > 0 {
		s += "; " + strings.Join(extra, "; ")
	}
	return s
}

// valueWords shows a JSON value: a string as it is, other values as
// compact JSON.
func valueWords(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return clean(s)
	}
	return clean(string(raw))
}

// FormatAmount writes an amount with its currency's sign when it has a
// common one (€, $, £) and its code otherwise, with thousands separators
// and at least two decimals: "€1,000.00", "CHF 12.50".
func FormatAmount(a Amount) string {
	whole, frac, _ := strings.Cut(a.Amount.String(), ".")
	for len(frac) < 2 {
		frac += "0"
	}
	var b strings.Builder
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	n := b.String() + "." + frac
	switch a.Currency {
	case "EUR":
		return "€" + n
	case "USD":
		return "$" + n
	case "GBP":
		return "£" + n
	}
	return clean(a.Currency) + " " + n
}

// FormatIBAN writes an IBAN in groups of four, as printed on cards and
// statements: "DE89 3704 0044 0532 0130 00".
func FormatIBAN(iban string) string {
	s := strings.ReplaceAll(clean(iban), " ", "")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// hosts shows locations as host and path, without the scheme.
func hosts(locs []string) string {
	out := make([]string, 0, len(locs))
	for _, l := range locs {
		if u, err := url.Parse(l); err == nil && u.Host != "" {
			l = u.Host + strings.TrimSuffix(u.EscapedPath(), "/")
		}
		out = append(out, clean(l))
	}
	return strings.Join(out, ", ")
}

func joinWords(w []string) string {
	switch len(w) {
	case 0:
		return ""
	case 1:
		return w[0]
	}
	return strings.Join(w[:len(w)-1], ", ") + " and " + w[len(w)-1]
}

func cleanAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = clean(s)
	}
	return out
}

// clean makes an untrusted value safe to print on a terminal: invalid
// UTF-8, control and format characters (bidi overrides) are escaped Go
// style.
func clean(s string) string { return termtext.Safe(s) }

func cut(s string) string { return termtext.Cut(s, maxLine) }

// PaymentOf returns the payment_initiation entry d as its fields, when it
// is a valid one; for rules that match on amounts.
func PaymentOf(d Detail) (*PaymentInitiation, bool) {
	if d.Type != TypePaymentInitiation {
		return nil, false
	}
	p, err := decodePayment(d.Raw)
	return p, err == nil
}

// CompareAmount compares the amounts a and b of the same currency as
// decimals: -1, 0 or +1. ok is false when either is not a decimal.
func CompareAmount(a, b string) (cmp int, ok bool) {
	x, okx := parseDecimal(a)
	y, oky := parseDecimal(b)
	if !okx || !oky {
		return 0, false
	}
	return x.Cmp(y), true
}

func parseDecimal(s string) (*big.Rat, bool) {
	if !amountPattern.MatchString(s) {
		return nil, false
	}
	return new(big.Rat).SetString(s)
}
