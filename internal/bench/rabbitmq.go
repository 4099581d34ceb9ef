package bench

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/cso-ssp/platform/internal/envfile"
	"github.com/cso-ssp/platform/internal/inventory"
	"github.com/cso-ssp/platform/internal/target"
)

// Bounds of a RabbitMQ run, beside MaxDuration and MaxClients.
const (
	MaxMessages      = 1_000_000
	MaxMessageSize   = 1 << 20
	MaxPrefetch      = 10_000
	MaxConfirmWindow = 10_000
	MaxMessageRate   = 100_000 // messages per second, all publishers together
	// QueuePrefix: the tool declares, consumes from and deletes only queues of its own, so
	// a typo cannot drain an application's queue.
	QueuePrefix = "cso-bench-"
	// headerSize is what every message carries: run id, message id, send time.
	headerSize = 24
	// confirmTimeout: a publisher whose oldest confirm has not come after this long
	// treats its connection as broken and publishes the unconfirmed messages again
	// elsewhere (a node paused by pause_minority keeps the TCP connection open).
	confirmTimeout = 15 * time.Second
	reconnectDelay = 250 * time.Millisecond
	connectTimeout = 10 * time.Second
)

// RabbitMQOptions describe one run: publishers with confirms and consumers with manual
// acknowledgements on one quorum queue, spread over every RabbitMQ node.
type RabbitMQOptions struct {
	Publishers int           // concurrent publishers, each on its own connection
	Consumers  int           // concurrent consumers, each on its own connection
	Messages   int           // total messages published (each confirmed once)
	Duration   time.Duration // wall-clock bound of the whole run, draining included
	Size       int           // bytes per message body (at least the 24-byte header)
	// Prefetch is each consumer's basic.qos: unacknowledged deliveries in flight.
	Prefetch int
	// ConfirmWindow is each publisher's outstanding confirms: it publishes up to this many
	// messages before it waits for the oldest confirm.
	ConfirmWindow int
	// Queue is the quorum queue; "" makes one named QueuePrefix+<random> and deletes it
	// at the end. A named queue is declared if missing and kept.
	Queue                 string
	User, VHost, Password string
	// Rate paces the publishers: at most this many new messages per second, all
	// publishers together (0: as fast as confirms allow).
	Rate float64
	// StopPublishing, when it closes, ends publishing new messages early (the fault tests
	// keep the load up for as long as their faults take); what was published is still
	// confirmed and drained. Messages stays the bound.
	StopPublishing <-chan struct{} `json:"-"`
}

// Validate refuses options without bounds or without a credential, before anything is sent.
func (o RabbitMQOptions) Validate() error {
	var errs []error
	if o.Publishers < 1 || o.Publishers > MaxClients {
		errs = append(errs, fmt.Errorf("publishers %d: between 1 and %d", o.Publishers, MaxClients))
	}
	if o.Consumers < 1 || o.Consumers > MaxClients {
		errs = append(errs, fmt.Errorf("consumers %d: between 1 and %d", o.Consumers, MaxClients))
	}
	if o.Messages < 1 || o.Messages > MaxMessages {
		errs = append(errs, fmt.Errorf("messages %d: between 1 and %d (a run is bounded in count)", o.Messages, MaxMessages))
	}
	if o.Duration <= 0 || o.Duration > MaxDuration {
		errs = append(errs, fmt.Errorf("duration %s: more than 0 and at most %s (a run is bounded in time)", o.Duration, MaxDuration))
	}
	if o.Size < headerSize || o.Size > MaxMessageSize {
		errs = append(errs, fmt.Errorf("size %d: between %d and %d bytes", o.Size, headerSize, MaxMessageSize))
	}
	if o.Prefetch < 1 || o.Prefetch > MaxPrefetch {
		errs = append(errs, fmt.Errorf("prefetch %d: between 1 and %d", o.Prefetch, MaxPrefetch))
	}
	if o.ConfirmWindow < 1 || o.ConfirmWindow > MaxConfirmWindow {
		errs = append(errs, fmt.Errorf("confirm window %d: between 1 and %d", o.ConfirmWindow, MaxConfirmWindow))
	}
	if o.Rate < 0 || o.Rate > MaxMessageRate {
		errs = append(errs, fmt.Errorf("rate %g: between 0 (unpaced) and %d messages per second", o.Rate, MaxMessageRate))
	}
	if o.Queue != "" && (!strings.HasPrefix(o.Queue, QueuePrefix) || len(o.Queue) == len(QueuePrefix) || len(o.Queue) > 255) {
		errs = append(errs, fmt.Errorf("queue %q: the tool uses only its own queues, named %s<something> (at most 255 bytes)", o.Queue, QueuePrefix))
	}
	if o.User == "" || o.VHost == "" {
		errs = append(errs, errors.New("user and vhost must be named"))
	}
	if o.Password == "" {
		errs = append(errs, fmt.Errorf("no password for RabbitMQ user %q", o.User))
	}
	return errors.Join(errs...)
}

// RabbitMQNodes returns the RabbitMQ nodes of t (AMQPS), with the same refusal as
// KeystoneNodes: any address that is neither loopback nor the host's own name in the
// environment's zone refuses the whole target.
func RabbitMQNodes(t *target.Target) ([]Node, error) {
	return nodesOf(t, envfile.RoleRabbitMQ, inventory.PortAMQPS, "amqps", "RabbitMQ")
}

// RabbitMQResult is what a run measured. Latency is end to end (the send time in the
// message to its first delivery), of messages delivered for the first time.
type RabbitMQResult struct {
	Queue      string   `json:"queue"`
	Nodes      []string `json:"nodes"`
	Publishers int      `json:"publishers"`
	Consumers  int      `json:"consumers"`
	Prefetch   int      `json:"prefetch"`
	Window     int      `json:"confirm_window"`
	Size       int      `json:"message_bytes"`
	Limit      int      `json:"message_limit"`
	// Sent: distinct messages published (Limit unless StopPublishing ended it early).
	Sent int `json:"sent"`
	// Published counts every basic.publish, republications included.
	Published int `json:"published"`
	// Republished: unconfirmed (nacked, or their connection lost) and published again.
	Republished int `json:"republished"`
	Confirmed   int `json:"confirmed"` // distinct messages the broker confirmed
	Consumed    int `json:"consumed"`  // distinct messages delivered
	// Lost: confirmed but never delivered by the end of the run. With Drained false, the
	// duration bound may have cut the draining short.
	Lost       int  `json:"lost"`
	Duplicates int  `json:"duplicates"` // deliveries of a message already delivered
	Stale      int  `json:"stale"`      // messages of another run found in the queue (acked)
	Drained    bool `json:"drained"`    // every message sent was confirmed and delivered
	// Reconnects: connections opened again after one broke or could not be opened.
	Reconnects int `json:"reconnects"`
	// Connections per node (publishers and consumers, reconnections included).
	PerNode    map[string]int `json:"connections_per_node"`
	Seconds    float64        `json:"-"`
	DurationMS float64        `json:"duration_ms"`
	// PerSec: distinct messages delivered per second of the run.
	PerSec     float64 `json:"throughput_per_second"`
	P50        float64 `json:"p50_ms"`
	P95        float64 `json:"p95_ms"`
	P99        float64 `json:"p99_ms"`
	Max        float64 `json:"max_ms"`
	FirstError string  `json:"first_error,omitempty"`
}

// rabbitRun is the shared state of one run.
type rabbitRun struct {
	o     RabbitMQOptions
	nodes []Node
	cfg   func(Node) amqp.Config
	runID [8]byte
	queue string

	mu        sync.Mutex
	sent      map[uint64]bool // published at least once
	confirmed map[uint64]bool
	consumed  map[uint64]bool
	both      int // messages confirmed and consumed
	lat       []time.Duration
	res       *RabbitMQResult
	last      time.Time // first delivery of the latest message
	progress  chan struct{}
}

func (r *rabbitRun) fail(detail string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.res.FirstError == "" {
		r.res.FirstError = detail
	}
}

// connect opens a connection to node i (mod n), counting it; a connection that had to be
// opened again is a reconnection.
func (r *rabbitRun) connect(i int, again bool) (*amqp.Connection, *amqp.Channel, Node, error) {
	n := r.nodes[i%len(r.nodes)]
	r.mu.Lock()
	r.res.PerNode[n.Name]++
	if again {
		r.res.Reconnects++
	}
	r.mu.Unlock()
	conn, err := amqp.DialConfig(n.URL, r.cfg(n))
	if err != nil {
		return nil, nil, n, fmt.Errorf("%s: %w", n.Name, err)
	}
	ch, err := conn.Channel()
	if err != nil {
		conn.Close()
		return nil, nil, n, fmt.Errorf("%s: channel: %w", n.Name, err)
	}
	return conn, ch, n, nil
}

// pause waits d or until ctx ends; false when ctx ended.
func pause(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// body is a message: run id, message id, send time (Unix ns), padding up to size.
func (r *rabbitRun) body(id uint64) []byte {
	b := make([]byte, r.o.Size)
	copy(b, r.runID[:])
	binary.BigEndian.PutUint64(b[8:], id)
	binary.BigEndian.PutUint64(b[16:], uint64(time.Now().UnixNano()))
	return b
}

type pending struct {
	id uint64
	dc *amqp.DeferredConfirmation
}

// publish sends ids through connections to node start, start+1, ... with at most
// ConfirmWindow unconfirmed: what is not confirmed when a connection breaks, or is
// nacked, is published again.
func (r *rabbitRun) publish(ctx context.Context, start int, ids []uint64) {
	todo := slices.Clone(ids)
	var out []pending
	node := start
	again := false
	p := &pacer{}
	if r.o.Rate > 0 {
		p.every = time.Duration(float64(time.Second) * float64(r.o.Publishers) / r.o.Rate)
		p.next = time.Now()
	}
	for len(todo) > 0 && ctx.Err() == nil {
		conn, ch, n, err := r.connect(node, again)
		again = true
		if err == nil {
			err = ch.Confirm(false)
		}
		if err != nil {
			r.fail("publisher: " + err.Error())
			if conn != nil {
				conn.Close()
			}
			node++
			if !pause(ctx, reconnectDelay) {
				return
			}
			continue
		}
		err = r.publishOn(ctx, ch, n, p, &todo, &out)
		// Whatever is not confirmed goes out again on the next connection.
		requeue := make([]uint64, 0, len(out))
		for _, p := range out {
			if p.dc.Acked() {
				r.confirm(p.id)
			} else {
				requeue = append(requeue, p.id)
			}
		}
		out = nil
		if len(requeue) > 0 {
			r.mu.Lock()
			r.res.Republished += len(requeue)
			r.mu.Unlock()
		}
		todo = append(requeue, todo...)
		conn.Close()
		if err != nil {
			r.fail("publisher on " + n.Name + ": " + err.Error())
			node++
			if !pause(ctx, reconnectDelay) {
				return
			}
		}
	}
}

// publishOn publishes *todo on ch until it is empty and confirmed (nil) or the channel
// breaks (the error); *out holds what is published and not yet confirmed.
func (r *rabbitRun) publishOn(ctx context.Context, ch *amqp.Channel, n Node, p *pacer, todo *[]uint64, out *[]pending) error {
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	for len(*todo) > 0 || len(*out) > 0 {
		r.dropUnsent(todo)
		for len(*out) < r.o.ConfirmWindow && len(*todo) > 0 {
			id := (*todo)[0]
			r.mu.Lock()
			fresh := !r.sent[id]
			r.mu.Unlock()
			if fresh && !p.wait(ctx, r.o.StopPublishing) {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				r.dropUnsent(todo)
				continue
			}
			dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", r.queue, false, false, amqp.Publishing{
				DeliveryMode: amqp.Persistent, ContentType: "application/octet-stream", Body: r.body(id)})
			if err != nil {
				return err
			}
			r.mu.Lock()
			r.res.Published++
			r.sent[id] = true
			r.mu.Unlock()
			*todo = (*todo)[1:]
			*out = append(*out, pending{id, dc})
		}
		if len(*out) == 0 {
			continue
		}
		oldest := (*out)[0]
		timer := time.NewTimer(confirmTimeout)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case e := <-closed:
			timer.Stop()
			if e == nil {
				return errors.New("channel closed")
			}
			return e
		case <-timer.C:
			return fmt.Errorf("no confirm from %s within %s", n.Name, confirmTimeout)
		case <-oldest.dc.Done():
			timer.Stop()
		}
		if !oldest.dc.Acked() {
			// A nack, or the channel closing: the broker did not take it. Out again.
			if ch.IsClosed() {
				return errors.New("channel closed")
			}
			*todo = append(*todo, oldest.id)
			r.mu.Lock()
			r.res.Republished++
			r.mu.Unlock()
		} else {
			r.confirm(oldest.id)
		}
		*out = (*out)[1:]
	}
	return nil
}

// pacer spaces a publisher's new messages every `every` (0: no pacing).
type pacer struct {
	every time.Duration
	next  time.Time
}

// wait blocks until the next slot; false when ctx ended or stop closed first.
func (p *pacer) wait(ctx context.Context, stop <-chan struct{}) bool {
	select {
	case <-stop:
		return false
	default:
	}
	if p.every == 0 {
		return true
	}
	d := time.Until(p.next)
	p.next = p.next.Add(p.every)
	if now := time.Now(); p.next.Before(now) {
		p.next = now // late (a reconnection): no burst to catch up
	}
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-stop:
		return false
	case <-t.C:
		return true
	}
}

// dropUnsent removes from *todo the messages never published once StopPublishing has
// closed: those already published must still be confirmed.
func (r *rabbitRun) dropUnsent(todo *[]uint64) {
	select {
	case <-r.o.StopPublishing:
	default:
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	*todo = slices.DeleteFunc(*todo, func(id uint64) bool { return !r.sent[id] })
}

func (r *rabbitRun) confirm(id uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.confirmed[id] {
		return
	}
	r.confirmed[id] = true
	r.res.Confirmed++
	if r.consumed[id] {
		r.both++
	}
	r.signal()
}

func (r *rabbitRun) signal() {
	select {
	case r.progress <- struct{}{}:
	default:
	}
}

// deliver records one delivery: a first one with its latency, or a duplicate.
func (r *rabbitRun) deliver(body []byte, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(body) < headerSize || [8]byte(body[:8]) != r.runID {
		r.res.Stale++
		return
	}
	id := binary.BigEndian.Uint64(body[8:])
	if r.consumed[id] {
		r.res.Duplicates++
		return
	}
	r.consumed[id] = true
	r.res.Consumed++
	if r.confirmed[id] {
		r.both++
	}
	sent := time.Unix(0, int64(binary.BigEndian.Uint64(body[16:])))
	r.lat = append(r.lat, at.Sub(sent))
	r.last = at
	r.signal()
}

// consume takes deliveries through connections to node start, start+1, ... until done
// closes or ctx ends, acknowledging each after recording it.
func (r *rabbitRun) consume(ctx context.Context, start int, done <-chan struct{}) {
	node := start
	again := false
	for ctx.Err() == nil {
		select {
		case <-done:
			return
		default:
		}
		conn, ch, n, err := r.connect(node, again)
		again = true
		var deliveries <-chan amqp.Delivery
		if err == nil {
			err = ch.Qos(r.o.Prefetch, 0, false)
		}
		if err == nil {
			deliveries, err = ch.ConsumeWithContext(ctx, r.queue, "", false, false, false, false, nil)
		}
		if err != nil {
			r.fail("consumer: " + err.Error())
			if conn != nil {
				conn.Close()
			}
			node++
			if !pause(ctx, reconnectDelay) {
				return
			}
			continue
		}
		cancelled := ch.NotifyCancel(make(chan string, 1))
		broken := func() bool {
			for {
				select {
				case <-ctx.Done():
					return false
				case <-done:
					return false
				case <-cancelled:
					return true // the queue's consumer was cancelled (a node left): subscribe again
				case d, ok := <-deliveries:
					if !ok {
						return true
					}
					r.deliver(d.Body, time.Now())
					if err := d.Ack(false); err != nil {
						return true // delivered again elsewhere: a duplicate
					}
				}
			}
		}()
		conn.Close()
		if !broken {
			return
		}
		r.fail("consumer on " + n.Name + ": connection lost")
		node++
		if !pause(ctx, reconnectDelay) {
			return
		}
	}
}

// RabbitMQ runs o against nodes of t: publisher i and consumer i start on node i and
// i+1 (mod n), so every node has publishers and consumers and a message usually crosses
// nodes; a broken connection is opened again on the next node. The run ends when every
// message is confirmed and delivered, or at o.Duration.
func RabbitMQ(ctx context.Context, t *target.Target, nodes []Node, o RabbitMQOptions) (*RabbitMQResult, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	cfg, err := amqpConfig(t, nodes, o)
	if err != nil {
		return nil, err
	}
	r, own, err := newRabbitRun(nodes, cfg, o)
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	if err := r.declare(runCtx); err != nil {
		return nil, err
	}
	if own {
		defer r.remove()
	}
	begin := time.Now()
	r.run(runCtx)
	return r.summarize(begin), nil
}

// newRabbitRun prepares the state of a run. own reports that the run names its queue
// (o.Queue is empty) and so removes it at the end.
func newRabbitRun(nodes []Node, cfg func(Node) amqp.Config, o RabbitMQOptions) (r *rabbitRun, own bool, err error) {
	r = &rabbitRun{o: o, nodes: nodes, cfg: cfg, queue: o.Queue,
		sent: map[uint64]bool{}, confirmed: map[uint64]bool{}, consumed: map[uint64]bool{}, progress: make(chan struct{}, 1),
		res: &RabbitMQResult{Publishers: o.Publishers, Consumers: o.Consumers, Prefetch: o.Prefetch,
			Window: o.ConfirmWindow, Size: o.Size, Limit: o.Messages, PerNode: map[string]int{}}}
	if _, err := rand.Read(r.runID[:]); err != nil {
		return nil, false, err
	}
	own = r.queue == ""
	if own {
		r.queue = QueuePrefix + hex.EncodeToString(r.runID[:])
	}
	r.res.Queue = r.queue
	for _, n := range nodes {
		r.res.Nodes = append(r.res.Nodes, n.Name)
	}
	return r, own, nil
}

// run starts the consumers and the publishers, waits for the publishers, drains, then
// stops the consumers.
func (r *rabbitRun) run(ctx context.Context) {
	done := make(chan struct{})
	var cons, pubs sync.WaitGroup
	for i := range r.o.Consumers {
		cons.Go(func() { r.consume(ctx, i+1, done) })
	}
	for i := range r.o.Publishers {
		ids := publisherIDs(i, r.o)
		pubs.Go(func() { r.publish(ctx, i, ids) })
	}
	pubs.Wait()
	r.drain(ctx)
	close(done)
	cons.Wait()
}

// publisherIDs are the message ids of publisher i: its share of o.Messages (the first
// publishers take the remainder), the publisher in the high 32 bits so ids never collide.
func publisherIDs(i int, o RabbitMQOptions) []uint64 {
	quota := o.Messages / o.Publishers
	if i < o.Messages%o.Publishers {
		quota++
	}
	ids := make([]uint64, quota)
	for k := range ids {
		ids[k] = uint64(i)<<32 | uint64(k)
	}
	return ids
}

// drain waits until every published message is confirmed and delivered, or the bound.
func (r *rabbitRun) drain(ctx context.Context) {
	for {
		r.mu.Lock()
		all := r.res.Confirmed == len(r.sent) && r.both == len(r.sent)
		r.mu.Unlock()
		if all || ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
		case <-r.progress:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// summarize completes the result of a run that began at begin: losses, whether it
// drained, throughput and latency percentiles.
func (r *rabbitRun) summarize(begin time.Time) *RabbitMQResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := r.res
	for id := range r.confirmed {
		if !r.consumed[id] {
			res.Lost++
		}
	}
	res.Sent = len(r.sent)
	res.Drained = res.Confirmed == res.Sent && r.both == res.Sent && (res.Sent == r.o.Messages || r.o.StopPublishing != nil)
	// The run ends at the latest message's first delivery; with none, now.
	end := r.last
	if end.Before(begin) {
		end = time.Now()
	}
	elapsed := end.Sub(begin)
	res.Seconds = elapsed.Seconds()
	res.DurationMS = float64(elapsed.Microseconds()) / 1000
	if res.Seconds > 0 {
		res.PerSec = float64(res.Consumed) / res.Seconds
	}
	slices.Sort(r.lat)
	res.P50, res.P95, res.P99 = ms(percentile(r.lat, 50)), ms(percentile(r.lat, 95)), ms(percentile(r.lat, 99))
	if len(r.lat) > 0 {
		res.Max = ms(r.lat[len(r.lat)-1])
	}
	return res
}

// declare creates the durable quorum queue on the first node that answers.
func (r *rabbitRun) declare(ctx context.Context) error {
	var errs []error
	for i := range r.nodes {
		if ctx.Err() != nil {
			break
		}
		conn, err := amqp.DialConfig(r.nodes[i].URL, r.cfg(r.nodes[i]))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.nodes[i].Name, err))
			continue
		}
		ch, err := conn.Channel()
		if err == nil {
			_, err = ch.QueueDeclare(r.queue, true, false, false, false, amqp.Table{"x-queue-type": "quorum"})
		}
		conn.Close()
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: declaring quorum queue %s: %w", r.nodes[i].Name, r.queue, err))
	}
	return fmt.Errorf("no RabbitMQ node took the queue: %w", errors.Join(errs...))
}

// remove deletes the run's own queue (best effort: a queue left behind is named as the
// tool's and empty unless the run was cut short).
func (r *rabbitRun) remove() {
	for _, n := range r.nodes {
		conn, err := amqp.DialConfig(n.URL, r.cfg(n))
		if err != nil {
			continue
		}
		ch, err := conn.Channel()
		if err == nil {
			_, err = ch.QueueDelete(r.queue, false, false, false)
		}
		conn.Close()
		if err == nil {
			return
		}
	}
}

// amqpConfig gives each node's connection settings: TLS verified against the environment's
// CA for the node's FQDN, dialled at the node's allowed address, ssp_user's password.
func amqpConfig(t *target.Target, nodes []Node, o RabbitMQOptions) (func(Node) amqp.Config, error) {
	pem, err := t.CACertPEM()
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, errors.New("the target description's CA certificate holds no PEM certificate")
	}
	return func(n Node) amqp.Config {
		dialer := &net.Dialer{Timeout: connectTimeout}
		return amqp.Config{
			SASL:            []amqp.Authentication{&amqp.PlainAuth{Username: o.User, Password: o.Password}},
			Vhost:           o.VHost,
			Heartbeat:       5 * time.Second,
			Locale:          "en_US",
			TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: n.fqdn, MinVersion: tls.VersionTLS12},
			// Every connection goes to the node's allowed address, whatever the URL says.
			Dial: func(network, _ string) (net.Conn, error) {
				c, err := dialer.Dial(network, n.dial)
				if err != nil {
					return nil, err
				}
				// The AMQP handshake is bounded too; amqp091 clears the deadline after it.
				if err := c.SetDeadline(time.Now().Add(connectTimeout)); err != nil {
					c.Close()
					return nil, err
				}
				return c, nil
			},
		}
	}, nil
}

// WriteText prints r for an operator.
func (r *RabbitMQResult) WriteText(w io.Writer) error {
	names := make([]string, 0, len(r.PerNode))
	for k := range r.PerNode {
		names = append(names, k)
	}
	sort.Strings(names)
	var per []string
	for _, n := range names {
		per = append(per, fmt.Sprintf("%s=%d", n, r.PerNode[n]))
	}
	_, err := fmt.Fprintf(w, `rabbitmq quorum queue %s: %d publishers, %d consumers over %s
settings    %d-byte messages, prefetch %d, confirm window %d
messages    %d confirmed, %d consumed of %d sent (limit %d); lost %d, duplicates %d, stale %d, drained %t
published   %d (republished %d); reconnections %d
connections %s
duration    %.2f s
throughput  %.1f msgs/s
latency     p50 %.1f ms, p95 %.1f ms, p99 %.1f ms, max %.1f ms
`, r.Queue, r.Publishers, r.Consumers, strings.Join(r.Nodes, ", "), r.Size, r.Prefetch, r.Window,
		r.Confirmed, r.Consumed, r.Sent, r.Limit, r.Lost, r.Duplicates, r.Stale, r.Drained,
		r.Published, r.Republished, r.Reconnects, strings.Join(per, " "), r.Seconds, r.PerSec, r.P50, r.P95, r.P99, r.Max)
	if err == nil && r.FirstError != "" {
		_, err = fmt.Fprintf(w, "first error %s\n", r.FirstError)
	}
	return err
}
