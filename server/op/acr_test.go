package op

import "testing"

// TestSelectACR covers the acr rule of selectACR (CIBA Core 1.0 §7.1,
// FAPI-CIBA §5.2.2 item 8): with acr_values, the ID token always carries
// an acr.
func TestSelectACR(t *testing.T) {
	tests := []struct {
		name       string
		supported  []string
		requested  []string
		fromDevice string
		want       string
	}{
		{"nothing requested, device acr", nil, nil, ACRPassword, ACRPassword},
		{"nothing requested, no device acr", nil, nil, "", ""},
		{"device satisfies the request", nil, []string{ACRPIN, ACRPassword}, ACRPassword, ACRPassword},
		{"device does not satisfy: first supported requested", nil, []string{"urn:x", ACRPIN, ACRPassword}, "urn:device", ACRPIN},
		{"no device acr: first supported requested", nil, []string{ACRPassword}, "", ACRPassword},
		{"nothing supported requested: device acr", nil, []string{"urn:x"}, "urn:device", "urn:device"},
		{"nothing supported, no device acr: OP default", nil, []string{"urn:x"}, "", ACRPassword},
		{"configured values", []string{"urn:gold", "urn:silver"}, []string{ACRPIN, "urn:silver"}, "", "urn:silver"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.p.cfg.ACRValuesSupported = tt.supported
			if got := f.p.selectACR(tt.requested, tt.fromDevice); got != tt.want {
				t.Fatalf("selectACR(%v, %q) = %q, want %q", tt.requested, tt.fromDevice, got, tt.want)
			}
		})
	}
}
