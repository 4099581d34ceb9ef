package keystone

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/cso-ssp/platform/internal/agent"
	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
)

// Keystone's cache (docs/decisions/roles.md, "Keystone caching"): memcached on every
// Keystone host, and every node's oslo.cache using the pool of all of them, so that a
// region invalidation (a revoked token, a changed role assignment) made on one node is seen
// by the other.
const (
	// MemcachedMemoryMB is memcached's item memory (-m). A validated fernet token with its
	// catalog is a few KiB: 64 MiB holds tens of thousands, far above the LLD's 500 users.
	MemcachedMemoryMB = 64
	// MemcachedConnections is memcached's connection limit (-c): every WSGI process of
	// every node keeps at most CachePoolMaxSize connections to each server.
	MemcachedConnections = 1024
	// CacheExpiration is oslo.cache's default TTL ([cache] expiration_time) in seconds.
	CacheExpiration = 600
	// CacheDeadRetry is how long a memcached server that stopped answering is left out of
	// the pool ([cache] memcache_dead_retry) before it is tried again: a node back from a
	// patch reboot rejoins the pool within a minute, not oslo.cache's default five.
	CacheDeadRetry = 60
	// CacheSocketTimeout bounds each memcached operation ([cache] memcache_socket_timeout):
	// a dead server costs one second, then dead_retry skips it.
	CacheSocketTimeout = 1
	// CachePoolMaxSize is the connection pool per server and WSGI process.
	CachePoolMaxSize = 10
	// CacheBackend is oslo.cache's pooled python-memcached backend, the one oslo.cache
	// recommends for threaded or eventlet servers; Debian's python3-oslo.cache depends on
	// python3-memcache for it (pymemcache, for dogpile.cache.pymemcache, is not installed).
	CacheBackend = "oslo_cache.memcache_pool"
)

// MemcachedService is the supervisor's (local) and systemd's (al2023) name of the
// Keystone cache. Not "memcached": that is the package's own unit on Amazon Linux, which
// stays disabled.
const MemcachedService = "keystone-memcached"

// memcachedListen is the address memcached binds: the host's address on the local target
// (127.0.0.1: every node of the machine is there), every address of the instance on EC2,
// where the Keystone security group admits 11211 from Keystone nodes only (as RabbitMQ's
// listeners, docs/decisions/roles.md).
func memcachedListen(h inventory.Host) string {
	if h.Address != "" {
		return h.Address
	}
	return "0.0.0.0"
}

// MemcachedCommand is the memcached command line of host h: its address and port, no UDP,
// the memory and connection limits.
func MemcachedCommand(h inventory.Host, d agent.Distro) []string {
	return []string{d.MemcachedBinary,
		"-l", memcachedListen(h), "-p", strconv.Itoa(h.Ports[inventory.PortMemcached]), "-U", "0",
		"-m", strconv.Itoa(MemcachedMemoryMB), "-c", strconv.Itoa(MemcachedConnections)}
}

// cacheServers lists the memcached of every Keystone node, host:port, in index order: the
// pool each node's oslo.cache shards its keys across.
func cacheServers(hosts []inventory.Host) []string {
	var out []string
	for _, h := range inventory.ByRole(hosts, envfile.RoleKeystone) {
		if p := h.Ports[inventory.PortMemcached]; p != 0 {
			out = append(out, net.JoinHostPort(addrOf(h), strconv.Itoa(p)))
		}
	}
	return out
}

// memcachedService runs this host's memcached; ready when it answers "version".
func memcachedService(rt *agent.Runtime, d agent.Distro) agent.Task {
	port := rt.Host.Ports[inventory.PortMemcached]
	return rt.Platform.Service(agent.ServiceSpec{
		Name:    MemcachedService,
		Command: MemcachedCommand(rt.Host, d),
		User:    d.MemcachedUser,
		Ready: func(ctx context.Context) error {
			return MemcachedVersion(ctx, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		},
		ReadyTimeout: 30 * time.Second,
		StopTimeout:  10 * time.Second,
	})
}

// MemcachedVersion asks the memcached at addr for its version (text protocol): nil when
// it answers "VERSION ...".
func MemcachedVersion(ctx context.Context, addr string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	deadline := time.Now().Add(5 * time.Second)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	conn.SetDeadline(deadline)
	if _, err := conn.Write([]byte("version\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return fmt.Errorf("memcached at %s: %w", addr, err)
	}
	if !strings.HasPrefix(line, "VERSION ") {
		return fmt.Errorf("memcached at %s answered %q to version", addr, strings.TrimSpace(line))
	}
	return nil
}
