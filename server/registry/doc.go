// Package state is the OpenID Provider's state directory: its certificate
// authorities, its TLS server certificate, its token signing keys, the
// registered clients and the users, all kept as plain files so that a
// restart keeps them and the admin commands can change them while the
// server runs.
//
// Layout (the default directory is ./.cibalab):
//
//	<dir>/                               0700
//	  ca.pem                             the default CA's certificate; clients trust the OP's
//	                                     TLS server certificate with it
//	  cas/<name>/ca.pem, ca-key.pem      every CA (the default one is named "default"); all of
//	                                     them are trusted for client certificates (RFC 8705 §2.1)
//	  server/server.pem, server-key.pem  the OP's TLS certificate chain (leaf and default CA)
//	                                     and its key (0600)
//	  keys/rs256.pem, keys/es256.pem     the token signing keys (RSA 2048, ECDSA P-256), 0600
//	  clients.json                       registered clients, with RFC 7591 metadata names
//	  users.json                         users; passwords only as PBKDF2-SHA256 hashes (0600)
//	  clients/<id>.p12                   issued client credentials: PKCS#12 (0600), its password
//	  clients/<id>.p12.pass              (0600), the certificate (0644) and its key (0600)
//	  clients/<id>.pem, <id>-key.pem
//	  .lock                              taken (flock) by every writer
//
// Readers re-read clients.json, users.json and cas/ when they changed on
// disk (a cheap stat on each call), so a client, user or CA added by
// another process is seen without a restart. Writers hold an exclusive
// lock on <dir>/.lock and replace files atomically (temporary file and
// rename), so two processes cannot lose each other's update and a reader
// never sees half a file. A malformed JSON file is reported with its name
// and is never overwritten.
//
// A registry can also live in a NATS JetStream key-value bucket
// ([OpenJetStream]), shared by several OPs and admin commands: the same
// documents under the same names, written with compare-and-swap on their
// revision instead of under the lock, read from a copy a watcher keeps up
// to date, the private keys sealed with the operator's registry key. Only
// the per-machine files (server/, ca.pem, clients/) stay in the directory.
// Both are a *Dir, and both pass the suite in package registrytest.
//
// Subject DNs given as RFC 4514 strings (tls_client_auth_subject_dn) are
// turned into certificate subjects by a small parser that accepts the
// attribute types CN, O, OU, C, L, ST, STREET, POSTALCODE and SERIALNUMBER
// and single-valued RDNs, and keeps the RDN order of the string.
package registry
