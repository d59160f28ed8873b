package op

import (
	"crypto/sha256"
	"crypto/x509"
	"sync"
	"time"
)

// chainCacheMax bounds the verdicts kept: a lab has few client
// certificates, and one entry is about 150 bytes.
const chainCacheMax = 4096

// chainKey names one chain verification: the certificates the client
// presented (the leaf and any intermediates, hashed together) and the
// trust store they were verified against. The trust store's identity is
// its version: Config.ClientCAs returns the same pool while the client
// CAs are unchanged and a new one when a CA is added or removed
// (registry.Dir.ClientCAPool), so a verdict against a pool that is no
// longer current is never found again. Keeping the pool in the key also
// keeps it alive, so its address cannot be reused for another pool.
type chainKey struct {
	chain [sha256.Size]byte
	roots *x509.CertPool
}

// chainVerdict is a successful verification of a chain for client
// authentication (extended key usage clientAuth, the one usage
// verifyPKIClient asks for), valid while the OP's clock is inside every
// certificate's validity period of the verified chain.
type chainVerdict struct {
	notBefore, notAfter time.Time
}

// chainCache remembers successful chain verifications (RFC 8705 §2.1), so
// that the requests of one client certificate verify its chain once, not
// on every request. Only successes are kept: a refused chain is verified
// again each time. What the verdict depends on is in the key (the
// presented certificates, the trust store) or checked on every hit (the
// validity window against the clock); the subject match is per client and
// is never cached (verifyPKIClient runs it on every request).
type chainCache struct {
	mu sync.Mutex
	m  map[chainKey]chainVerdict
}

func newChainCache() *chainCache { return &chainCache{m: make(map[chainKey]chainVerdict)} }

func chainHash(chain []*x509.Certificate) [sha256.Size]byte {
	h := sha256.New()
	for _, c := range chain {
		// Each DER certificate is self-delimiting, so the concatenation
		// names the sequence unambiguously.
		h.Write(c.Raw)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// valid reports whether key was verified before and now is inside the
// verified chain's validity window.
func (c *chainCache) valid(key chainKey, now time.Time) bool {
	c.mu.Lock()
	v, ok := c.m[key]
	c.mu.Unlock()
	return ok && !now.Before(v.notBefore) && !now.After(v.notAfter)
}

// add records a successful verification of key that produced chain (leaf
// first, root last).
func (c *chainCache) add(key chainKey, chain []*x509.Certificate) {
	var v chainVerdict
	for i, cert := range chain {
		if i == 0 || cert.NotBefore.After(v.notBefore) {
			v.notBefore = cert.NotBefore
		}
		if i == 0 || cert.NotAfter.Before(v.notAfter) {
			v.notAfter = cert.NotAfter
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[key]; !ok && len(c.m) >= chainCacheMax {
		// Full: forget stale trust stores first, else an arbitrary entry.
		for k := range c.m {
			if k.roots != key.roots {
				delete(c.m, k)
			}
		}
		for k := range c.m {
			if len(c.m) < chainCacheMax {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[key] = v
}

// len is the number of verdicts kept (for tests).
func (c *chainCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
