package authzdetails

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strings"
)

// PaymentInitiation is a payment_initiation entry (the example type of
// RFC 9396 §1.1 and §2): one payment of InstructedAmount to CreditorName's
// CreditorAccount.
type PaymentInitiation struct {
	Type                              string   `json:"type"`
	Locations                         []string `json:"locations,omitempty"`
	Actions                           []string `json:"actions,omitempty"`
	Datatypes                         []string `json:"datatypes,omitempty"`
	Identifier                        string   `json:"identifier,omitempty"`
	Privileges                        []string `json:"privileges,omitempty"`
	InstructedAmount                  Amount   `json:"instructedAmount"`
	CreditorName                      string   `json:"creditorName"`
	CreditorAccount                   Account  `json:"creditorAccount"`
	RemittanceInformationUnstructured string   `json:"remittanceInformationUnstructured,omitempty"`
}

// Amount is an amount of money: an ISO 4217 currency code and a positive
// decimal amount, a JSON string such as "1000.00" (a JSON number is taken
// too).
type Amount struct {
	Currency string      `json:"currency"`
	Amount   json.Number `json:"amount"`
}

// Account identifies the creditor's account by its IBAN (ISO 13616).
type Account struct {
	IBAN string `json:"iban"`
}

// AccountInformation is an account_information entry (RFC 9396 §1.1):
// what may be read (Actions) at which API (Locations), optionally of one
// account (Identifier).
type AccountInformation struct {
	Type       string   `json:"type"`
	Locations  []string `json:"locations"`
	Actions    []string `json:"actions"`
	Datatypes  []string `json:"datatypes,omitempty"`
	Identifier string   `json:"identifier,omitempty"`
	Privileges []string `json:"privileges,omitempty"`
}

// AccountActions returns the actions an account_information entry may
// ask for.
func AccountActions() []string {
	return []string{"list_accounts", "read_balances", "read_transactions"}
}

// Bounds of free-text fields of the built-in types.
const (
	maxName      = 140 // creditorName, remittance information (ISO 20022 Max140Text)
	maxAmountLen = 18
)

var (
	currencyPattern = regexp.MustCompile(`^[A-Z]{3}$`)
	amountPattern   = regexp.MustCompile(`^(0|[1-9][0-9]*)(\.[0-9]{1,3})?$`)
	ibanPattern     = regexp.MustCompile(`^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$`)
)

// decodeKnown decodes raw into v refusing unknown fields (RFC 9396 §5: a
// known type with an unknown field is refused); the error names the field
// or the type mismatch.
func decodeKnown(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			return fmt.Errorf("%s has the wrong type", te.Field)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return fmt.Errorf("unknown field %s", safe(strings.TrimPrefix(err.Error(), "json: unknown field ")))
		case strings.Contains(err.Error(), "into Number"):
			return errors.New(`instructedAmount.amount must be a positive decimal such as "1000.00"`)
		}
		return errors.New("malformed")
	}
	return nil
}

// decodePayment decodes and checks a payment_initiation entry:
// instructedAmount with a currency of three capital letters and a
// positive amount of at most three decimals; a creditorName of 1 to 140
// printable characters; a creditorAccount with a valid IBAN (spaces
// allowed, checksum verified); remittanceInformationUnstructured, when
// present, of at most 140 printable characters.
func decodePayment(raw []byte) (*PaymentInitiation, error) {
	var p PaymentInitiation
	if err := decodeKnown(raw, &p); err != nil {
		return nil, err
	}
	a := p.InstructedAmount
	switch {
	case a.Currency == "" && a.Amount == "":
		return nil, errors.New("instructedAmount is required")
	case !currencyPattern.MatchString(a.Currency):
		return nil, errors.New("instructedAmount.currency must be an ISO 4217 code such as EUR")
	case len(a.Amount) > maxAmountLen || !amountPattern.MatchString(a.Amount.String()) || isZero(a.Amount.String()):
		return nil, errors.New(`instructedAmount.amount must be a positive decimal such as "1000.00"`)
	case p.CreditorName == "":
		return nil, errors.New("creditorName is required")
	case len([]rune(p.CreditorName)) > maxName || !printable(p.CreditorName):
		return nil, fmt.Errorf("creditorName must be at most %d printable characters", maxName)
	case p.CreditorAccount.IBAN == "":
		return nil, errors.New("creditorAccount.iban is required")
	case !validIBAN(p.CreditorAccount.IBAN):
		return nil, errors.New("creditorAccount.iban is not a valid IBAN")
	case len([]rune(p.RemittanceInformationUnstructured)) > maxName ||
		(p.RemittanceInformationUnstructured != "" && !printable(p.RemittanceInformationUnstructured)):
		return nil, fmt.Errorf("remittanceInformationUnstructured must be at most %d printable characters", maxName)
	}
	return &p, nil
}

// decodeAccount decodes and checks an account_information entry: at least
// one action, each one of AccountActions, and at least one location.
func decodeAccount(raw []byte) (*AccountInformation, error) {
	var a AccountInformation
	if err := decodeKnown(raw, &a); err != nil {
		return nil, err
	}
	switch {
	case len(a.Actions) == 0:
		return nil, fmt.Errorf("actions is required: one or more of %s", strings.Join(AccountActions(), ", "))
	case len(a.Locations) == 0:
		return nil, errors.New("locations is required: the account API's URI")
	}
	for _, act := range a.Actions {
		if !slices.Contains(AccountActions(), act) {
			return nil, fmt.Errorf("action %q is not one of %s", safe(act), strings.Join(AccountActions(), ", "))
		}
	}
	return &a, nil
}

func isZero(amount string) bool {
	return strings.Trim(amount, "0.") == ""
}

// validIBAN checks an IBAN's form and its ISO 7064 mod 97-10 checksum;
// spaces are ignored.
func validIBAN(s string) bool {
	s = strings.ReplaceAll(s, " ", "")
	if !ibanPattern.MatchString(s) {
		return false
	}
	rearranged := s[4:] + s[:4]
	var digits strings.Builder
	for _, c := range rearranged {
		if c >= 'A' && c <= 'Z' {
			fmt.Fprintf(&digits, "%d", c-'A'+10)
		} else {
			digits.WriteRune(c)
		}
	}
	n, ok := new(big.Int).SetString(digits.String(), 10)
	return ok && new(big.Int).Mod(n, big.NewInt(97)).Int64() == 1
}
