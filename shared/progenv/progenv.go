package progenv

import "time"

// Getenv returns the environment variable name as getenv reads it, or ""
// when getenv is nil.
func Getenv(getenv func(string) string, name string) string {
	if getenv == nil {
		return ""
	}
	return getenv(name)
}

// Now returns the time by the clock now, or by time.Now when now is nil.
func Now(now func() time.Time) time.Time {
	if now == nil {
		return time.Now()
	}
	return now()
}
