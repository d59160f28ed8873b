package authzdetails

import (
	"errors"
	"strings"
	"testing"
)

const payment = `{"type":"payment_initiation","actions":["initiate"],"locations":["https://bank.example/payments"],
 "instructedAmount":{"currency":"EUR","amount":"1000.00"},"creditorName":"ACME GmbH",
 "creditorAccount":{"iban":"DE89370400440532013000"},"remittanceInformationUnstructured":"Invoice 4711"}`

const account = `{"type":"account_information","actions":["list_accounts","read_balances"],"locations":["https://bank.example/accounts"]}`

var allowed = []string{TypePaymentInitiation, TypeAccountInformation, "customer_information"}

func TestParseAndValidate(t *testing.T) {
	cases := []struct {
		name, in string
		wantIdx  int    // -2: valid
		wantErr  string // substring of the error
	}{
		{"payment and account", "[" + payment + "," + account + "]", -2, ""},
		{"generic type shape only", `[{"type":"customer_information","actions":["read"],"anything":{"x":1}}]`, -2, ""},
		{"amount as number", `[{"type":"payment_initiation","instructedAmount":{"currency":"EUR","amount":12.5},"creditorName":"A","creditorAccount":{"iban":"DE89 3704 0044 0532 0130 00"}}]`, -2, ""},
		{"not an array", payment, -1, "must be a JSON array"},
		{"empty array", `[]`, -1, "must not be empty"},
		{"trailing data", `[` + account + `] x`, -1, "JSON array"},
		{"entry not an object", `["x"]`, 0, "JSON object"},
		{"no type", `[{"actions":["read"]}]`, 0, "type is required"},
		{"type not a string", `[{"type":7}]`, 0, "type is required"},
		{"actions not strings", `[{"type":"customer_information","actions":"read"}]`, 0, "actions must be an array of strings"},
		{"relative location", `[{"type":"customer_information","locations":["/x"]}]`, 0, "absolute URIs"},
		{"unknown type", "[" + account + `,{"type":"wire_transfer"}]`, 1, `type "wire_transfer" is not one this client may use`},
		{"unknown field of a known type", `[{"type":"account_information","actions":["read_balances"],"locations":["https://b.example"],"colour":"red"}]`, 0, `unknown field "colour"`},
		{"payment without amount", `[{"type":"payment_initiation","creditorName":"A","creditorAccount":{"iban":"DE89370400440532013000"}}]`, 0, "instructedAmount is required"},
		{"bad currency", strings.Replace("["+payment+"]", `"EUR"`, `"euro"`, 1), 0, "currency"},
		{"zero amount", strings.Replace("["+payment+"]", `"1000.00"`, `"0.00"`, 1), 0, "positive decimal"},
		{"negative amount", strings.Replace("["+payment+"]", `"1000.00"`, `"-5"`, 1), 0, "positive decimal"},
		{"amount not a number", strings.Replace("["+payment+"]", `"1000.00"`, `"lots"`, 1), 0, "amount"},
		{"bad iban checksum", strings.Replace("["+payment+"]", `DE89`, `DE88`, 1), 0, "not a valid IBAN"},
		{"no creditor", strings.Replace("["+payment+"]", `"creditorName":"ACME GmbH",`, ``, 1), 0, "creditorName is required"},
		{"account without locations", `[{"type":"account_information","actions":["read_balances"]}]`, 0, "locations is required"},
		{"account unknown action", `[{"type":"account_information","actions":["transfer"],"locations":["https://b.example"]}]`, 0, `action "transfer"`},
		{"too many", "[" + strings.Repeat(account+",", MaxEntries) + account + "]", -1, "more than"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ds, err := Parse([]byte(c.in))
			if err == nil {
				err = Validate(ds, allowed)
			}
			if c.wantIdx == -2 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want an *Error", err)
			}
			if e.Index != c.wantIdx || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("err = %q (index %d), want index %d and %q", err, e.Index, c.wantIdx, c.wantErr)
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	ds, err := Parse([]byte(`[` + payment + `,` + account + `,
	 {"type":"account_information","actions":["read_balances","read_transactions"],"locations":["https://bank.example/accounts"],"identifier":"DE89370400440532013000"},
	 {"type":"payment_initiation","instructedAmount":{"currency":"CHF","amount":"1234567.5"},"creditorName":"Zug AG","creditorAccount":{"iban":"CH9300762011623852957"}},
	 {"type":"customer_information","actions":["read","write"],"locations":["https://api.example/customers"],"datatypes":["contacts"],"note":"x\u001b[31m"}]`))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`Pay €1,000.00 to ACME GmbH, DE89 3704 0044 0532 0130 00 (reference "Invoice 4711")`,
		`List accounts and read balances at bank.example/accounts`,
		`Read balances of account DE89370400440532013000 and read transactions of account DE89370400440532013000 at bank.example/accounts`,
		`Pay CHF 1,234,567.50 to Zug AG, CH93 0076 2011 6238 5295 7`,
		`Type customer_information: read, write at api.example/customers; datatypes contacts; note x\x1b[31m`,
	}
	got := ds.Lines()
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
}

func TestSelect(t *testing.T) {
	ds, err := Parse([]byte("[" + payment + "," + account + "]"))
	if err != nil {
		t.Fatal(err)
	}
	sub, err := ds.Select([]int{1})
	if err != nil || len(sub) != 1 || sub[0].Type != TypeAccountInformation {
		t.Fatalf("Select([1]) = %v, %v", sub, err)
	}
	if all, _ := ds.Select(nil); len(all) != 2 {
		t.Fatalf("Select(nil) kept %d entries, want 2", len(all))
	}
	if none, err := ds.Select([]int{}); err != nil || len(none) != 0 {
		t.Fatalf("Select([]) = %v, %v", none, err)
	}
	for _, bad := range [][]int{{2}, {-1}, {0, 0}} {
		if _, err := ds.Select(bad); err == nil {
			t.Errorf("Select(%v) accepted", bad)
		}
	}
	if got := string(sub.Marshal()); got != "["+strings.Join(strings.Fields(account), " ")+"]" {
		t.Errorf("Marshal = %s", got)
	}
	re, _ := Parse([]byte(`[{"locations":["https://bank.example/accounts"], "type":"account_information","actions":["list_accounts","read_balances"]}]`))
	if !Equal(sub, re) {
		t.Error("Equal: same entries with members reordered are not equal")
	}
	if Equal(sub, ds[:1]) {
		t.Error("Equal: different entries are equal")
	}
}

func TestCompareAmount(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{{"999.99", "1000", -1}, {"1000.00", "1000", 0}, {"1000.01", "1000", 1}} {
		if got, ok := CompareAmount(c.a, c.b); !ok || got != c.want {
			t.Errorf("CompareAmount(%s, %s) = %d, %v", c.a, c.b, got, ok)
		}
	}
	if _, ok := CompareAmount("1e3", "1"); ok {
		t.Error("CompareAmount accepted 1e3")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("[" + payment + "," + account + "]"))
	f.Add([]byte(`[{"type":"x","actions":[1]}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ds, err := Parse(data)
		if err != nil {
			return
		}
		_ = Validate(ds, allowed)
		for _, l := range ds.Lines() {
			if l == "" {
				t.Fatal("empty description")
			}
		}
		again, err := Parse(ds.Marshal())
		if err != nil || !Equal(ds, again) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
