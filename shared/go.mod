module github.com/cibalab/cibalab/shared

go 1.26.8

require (
	github.com/golang-jwt/jwt/v5 v5.3.1
	software.sslmate.com/src/go-pkcs12 v0.7.4
)

require golang.org/x/crypto v0.59.0 // indirect
