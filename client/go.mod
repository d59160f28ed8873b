module github.com/cibalab/cibalab/client

go 1.26.8

require (
	github.com/cibalab/cibalab/shared v0.0.0
	github.com/golang-jwt/jwt/v5 v5.3.1
	golang.org/x/term v0.48.0
)

require (
	golang.org/x/crypto v0.59.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	software.sslmate.com/src/go-pkcs12 v0.7.4 // indirect
)

replace github.com/cibalab/cibalab/shared => ../shared
