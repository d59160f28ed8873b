// Package progenv is the program environment of the cibalab command-line
// programs: what a command takes from its process besides its arguments,
// namely environment variables and the clock. Each program's
// internal/cli has an Env struct whose Getenv and Now fields main sets to
// os.Getenv and time.Now and tests set to their own; this package gives
// their zero values one meaning in every program: a nil Getenv reads no
// variable, so a test sees only the environment it sets, and a nil Now is
// the system clock.
//
// Reading the process environment stays in main (STYLE.md: no environment
// reads outside main and internal/cli); this package reads none itself.
package progenv
