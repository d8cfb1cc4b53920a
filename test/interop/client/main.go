// opamp-interop is a supervisor-shaped OpAMP agent built on the reference Go client
// (github.com/open-telemetry/opamp-go/client). The interop tests in test/interop/ start it against a
// real agent-api server and read what happened from the JSON lines it prints on stdout.
//
// What it does, mirroring cmd/opampsupervisor (v0.158.0, supervisor/supervisor.go):
//   - connects to -endpoint (ws/wss → client.NewWebSocket, http/https → client.NewHTTP) with the
//     headers of -header/-token (the xse_ enrollment token);
//   - on an OpAMP connection-settings offer: stops the client (agent_disconnect + close, 5 s) and
//     starts a NEW client object with the offered endpoint, the offered headers REPLACING the old
//     ones, and the offered heartbeat interval (seq restarts at 0, first message is a full report);
//     an offer without destination_endpoint is refused (the supervisor's Validate() fails);
//   - on a remote config: reports APPLYING, then APPLIED, or FAILED with an error message when the
//     config does not parse as YAML or has a top-level `fail: true` (message from `fail_message`);
//     reports health (unhealthy at start, healthy once a config runs, unhealthy with last_error on
//     failure) and the effective config (the applied YAML under key "");
//   - persists instance_uid, the last remote-config status and the last config in -state-dir, so a
//     second process with the same -state-dir is a "restarted supervisor" (same uid, enrollment
//     token again, last hash reported in the first message);
//   - stops cleanly (health "Supervisor is shutdown", agent_disconnect, close) on SIGTERM/SIGINT,
//     on stdin EOF, or on the stdin line "stop";
//   - with -accepts-restart, on a Restart command "restarts the collector" like
//     handleRestartCommand (same connection; health again with a new start time);
//   - on agent_identification, like processAgentIdentificationMessage: persists the new uid,
//     puts it in service.instance.id and sends the description again (opamp-go itself sends
//     every later message under the new uid).
//
// Events (one JSON object per line on stdout, field "event"): started, connecting, connected,
// connect_failed, log, error_response, offer, offer_rejected, offer_followed, client_stopped,
// config_received, config_status, health, effective_config, message, command, collector_restarted,
// instance_uid_changed, stopped.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/open-telemetry/opamp-go/client"
	"github.com/open-telemetry/opamp-go/client/types"
	"github.com/open-telemetry/opamp-go/protobufs"
	"google.golang.org/protobuf/reflect/protoreflect"
	"gopkg.in/yaml.v3"
)

// ---------------------------------------------------------------------------------------------
// Events

var outMu sync.Mutex

func emit(event string, fields map[string]any) {
	m := map[string]any{"event": event, "ts": time.Now().UTC().Format(time.RFC3339Nano)}
	for k, v := range fields {
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		b = []byte(fmt.Sprintf(`{"event":"internal_error","error":%q}`, err.Error()))
	}
	outMu.Lock()
	defer outMu.Unlock()
	_, _ = os.Stdout.Write(append(b, '\n'))
}

type eventLogger struct{ debug bool }

func (l eventLogger) Debugf(_ context.Context, format string, v ...any) {
	if l.debug {
		emit("log", map[string]any{"level": "debug", "msg": fmt.Sprintf(format, v...)})
	}
}

func (l eventLogger) Errorf(_ context.Context, format string, v ...any) {
	emit("log", map[string]any{"level": "error", "msg": fmt.Sprintf(format, v...)})
}

// ---------------------------------------------------------------------------------------------
// Persistent state (the supervisor's persistent_state.yaml + last_recv_remote_config.dat)

type persistedState struct {
	InstanceUID  string `json:"instanceUid"`
	LastHash     string `json:"lastRemoteConfigHash,omitempty"`
	LastStatus   int32  `json:"lastRemoteConfigStatus,omitempty"`
	LastError    string `json:"lastRemoteConfigError,omitempty"`
	LastConfig   string `json:"lastConfig,omitempty"`
	LastConfigOK bool   `json:"lastConfigOk,omitempty"`
}

func loadState(dir string) (*persistedState, error) {
	st := &persistedState{}
	if dir != "" {
		b, err := os.ReadFile(filepath.Join(dir, "state.json"))
		if err == nil {
			if err := json.Unmarshal(b, st); err != nil {
				return nil, fmt.Errorf("state.json: %w", err)
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	return st, nil
}

func (s *persistedState) save(dir string) {
	if dir == "" {
		return
	}
	b, _ := json.MarshalIndent(s, "", "  ")
	tmp := filepath.Join(dir, "state.json.tmp")
	if err := os.WriteFile(tmp, b, 0o600); err == nil {
		_ = os.Rename(tmp, filepath.Join(dir, "state.json"))
	}
}

// newUUIDv7 returns a UUIDv7 like the supervisor generates.
func newUUIDv7() types.InstanceUid {
	var u types.InstanceUid
	_, _ = rand.Read(u[:])
	ms := uint64(time.Now().UnixMilli())
	for i := 0; i < 6; i++ {
		u[i] = byte(ms >> (40 - 8*i))
	}
	u[6] = (u[6] & 0x0f) | 0x70
	u[8] = (u[8] & 0x3f) | 0x80
	return u
}

func uuidString(u types.InstanceUid) string {
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func parseUUID(s string) (types.InstanceUid, error) {
	var u types.InstanceUid
	b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(b) != 16 {
		return u, fmt.Errorf("not a UUID: %q", s)
	}
	copy(u[:], b)
	return u, nil
}

// ---------------------------------------------------------------------------------------------
// The agent

type serverSettings struct {
	endpoint  string
	headers   http.Header
	heartbeat time.Duration
}

type agent struct {
	opts    options
	uid     types.InstanceUid
	state   *persistedState
	logger  eventLogger
	caps    protobufs.AgentCapabilities
	runCtx  context.Context
	startAt uint64
	desc    *protobufs.AgentDescription
	// switchMu serialises client starts/stops (never held by opamp-go callbacks, so Stop, which
	// waits for the callbacks, cannot deadlock); mu guards the fields below.
	switchMu sync.Mutex
	mu       sync.Mutex
	client   client.OpAMPClient
	server   serverSettings
	clientNo int
	// the collector config "running" (what the effective config shows)
	effective    string
	health       *protobufs.ComponentHealth
	lastStatus   *protobufs.RemoteConfigStatus
	lastConfigRx *protobufs.AgentRemoteConfig
}

type options struct {
	endpoint       string
	headers        http.Header
	heartbeat      time.Duration
	stateDir       string
	uid            string
	applyDelay     time.Duration
	noConnSettings bool
	noHeartbeatCap bool
	acceptsRestart bool
	hostName       string
	compression    bool
	debug          bool
	name           string
}

func (a *agent) opampGoVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/open-telemetry/opamp-go" {
				if d.Replace != nil {
					return d.Replace.Version
				}
				return d.Version
			}
		}
	}
	return "unknown"
}

func kv(k, v string) *protobufs.KeyValue {
	return &protobufs.KeyValue{Key: k, Value: &protobufs.AnyValue{Value: &protobufs.AnyValue_StringValue{StringValue: v}}}
}

func authKind(h http.Header) string {
	v := h.Get("Authorization")
	v = strings.TrimPrefix(v, "Bearer ")
	if len(v) >= 4 {
		return v[:4]
	}
	return ""
}

func headerNames(h http.Header) []string {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

func transportOf(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return ""
	}
	switch u.Scheme {
	case "ws", "wss":
		return "websocket"
	case "http", "https":
		return "http"
	}
	return ""
}

// startClient mirrors Supervisor.startOpAMPClient: a NEW client object for the current settings.
// Callers hold a.switchMu.
func (a *agent) startClient() error {
	u, err := url.Parse(a.server.endpoint)
	if err != nil {
		return fmt.Errorf("parse server endpoint: %w", err)
	}
	var c client.OpAMPClient
	switch u.Scheme {
	case "ws", "wss":
		c = client.NewWebSocket(a.logger)
	case "http", "https":
		c = client.NewHTTP(a.logger)
	default:
		return fmt.Errorf("unsupported scheme in server endpoint: %q", u.Scheme)
	}
	a.mu.Lock()
	a.clientNo++
	n := a.clientNo
	health := a.health
	lastStatus := a.lastStatus
	uid := a.uid
	a.mu.Unlock()
	endpoint := a.server.endpoint
	auth := authKind(a.server.headers)
	settings := types.StartSettings{
		OpAMPServerURL:     endpoint,
		Header:             a.server.headers.Clone(),
		InstanceUid:        uid,
		RemoteConfigStatus: lastStatus,
		EnableCompression:  a.opts.compression,
		Callbacks: types.Callbacks{
			OnConnect: func(context.Context) {
				emit("connected", map[string]any{"client": n, "endpoint": endpoint, "transport": transportOf(endpoint), "auth": auth})
			},
			OnConnectFailed: func(_ context.Context, err error) {
				emit("connect_failed", map[string]any{"client": n, "endpoint": endpoint, "error": err.Error()})
			},
			OnError: func(_ context.Context, e *protobufs.ServerErrorResponse) {
				emit("error_response", map[string]any{"client": n, "type": e.Type.String(), "message": e.ErrorMessage})
			},
			OnMessage: func(ctx context.Context, msg *types.MessageData) { a.onMessage(ctx, n, msg) },
			OnCommand: func(_ context.Context, cmd *protobufs.ServerToAgentCommand) error {
				emit("command", map[string]any{"client": n, "type": cmd.GetType().String()})
				if cmd.GetType() == protobufs.CommandType_CommandType_Restart {
					go a.restartCollector(n)
				}
				return nil
			},
			OnOpampConnectionSettings: func(ctx context.Context, s *protobufs.OpAMPConnectionSettings) error {
				// Like the supervisor: handled on another goroutine (it stops this very client).
				go a.onOpampConnectionSettings(n, s)
				return nil
			},
			SaveRemoteConfigStatus: func(context.Context, *protobufs.RemoteConfigStatus) {},
			GetEffectiveConfig: func(context.Context) (*protobufs.EffectiveConfig, error) {
				return a.effectiveConfigMsg(), nil
			},
		},
	}
	if a.opts.heartbeat >= 0 && !a.opts.noHeartbeatCap {
		d := a.server.heartbeat
		settings.HeartbeatInterval = &d
	}
	if err := c.SetAgentDescription(a.desc); err != nil {
		return err
	}
	if err := c.SetHealth(health); err != nil {
		return err
	}
	caps := a.caps
	if err := c.SetCapabilities(&caps); err != nil {
		return err
	}
	emit("connecting", map[string]any{
		"client": n, "endpoint": endpoint, "transport": transportOf(endpoint), "auth": authKind(a.server.headers),
		"headers": headerNames(a.server.headers), "heartbeatSeconds": a.server.heartbeat.Seconds(),
	})
	if err := c.Start(a.runCtx, settings); err != nil {
		return err
	}
	a.mu.Lock()
	a.client = c
	a.mu.Unlock()
	return nil
}

// stopClient mirrors Supervisor.stopOpAMPClient. Callers hold a.switchMu.
func (a *agent) stopClient() error {
	a.mu.Lock()
	c, n := a.client, a.clientNo
	a.client = nil
	a.mu.Unlock()
	if c == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := c.Stop(ctx)
	emit("client_stopped", map[string]any{"client": n, "error": errString(err)})
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func (a *agent) onOpampConnectionSettings(n int, s *protobufs.OpAMPConnectionSettings) {
	if s == nil {
		return
	}
	headers := make(http.Header)
	if s.Headers != nil {
		for _, h := range s.Headers.Headers {
			headers.Add(h.Key, h.Value)
		}
	}
	emit("offer", map[string]any{
		"client": n, "endpoint": s.DestinationEndpoint, "headers": headerNames(headers), "auth": authKind(headers),
		"heartbeatSeconds": s.HeartbeatIntervalSeconds, "hasCertificate": s.Certificate != nil,
	})
	a.switchMu.Lock()
	defer a.switchMu.Unlock()
	next := serverSettings{endpoint: s.DestinationEndpoint, headers: headers, heartbeat: a.server.heartbeat}
	if s.Headers == nil {
		next.headers = make(http.Header)
	}
	// The supervisor's OpAMPServer.Validate(): an endpoint is required and must be a valid URL.
	if next.endpoint == "" {
		emit("offer_rejected", map[string]any{"client": n, "error": "server::endpoint must be specified"})
		return
	}
	if _, err := url.Parse(next.endpoint); err != nil {
		emit("offer_rejected", map[string]any{"client": n, "error": err.Error()})
		return
	}
	if !a.opts.noHeartbeatCap {
		// v0.158.0 takes the offered value as is (0 disables heartbeats; fixed upstream later).
		next.heartbeat = time.Duration(s.HeartbeatIntervalSeconds) * time.Second
	}
	if err := a.stopClient(); err != nil {
		emit("offer_rejected", map[string]any{"client": n, "error": "cannot stop the OpAMP client: " + err.Error()})
		return
	}
	old := a.server
	a.server = next
	if err := a.startClient(); err != nil {
		emit("offer_rejected", map[string]any{"client": n, "error": "cannot connect with the new settings: " + err.Error()})
		a.server = old
		if err := a.startClient(); err != nil {
			emit("log", map[string]any{"level": "error", "msg": "cannot restart with the old settings: " + err.Error()})
		}
		return
	}
	a.mu.Lock()
	cn := a.clientNo
	a.mu.Unlock()
	emit("offer_followed", map[string]any{
		"client": cn, "endpoint": next.endpoint, "transport": transportOf(next.endpoint),
		"auth": authKind(next.headers), "heartbeatSeconds": next.heartbeat.Seconds(),
	})
}

func (a *agent) effectiveConfigMsg() *protobufs.EffectiveConfig {
	a.mu.Lock()
	body := a.effective
	a.mu.Unlock()
	return &protobufs.EffectiveConfig{ConfigMap: configMapOf(map[string]string{"": body})}
}

// configMapOf builds an AgentConfigMap of YAML files through protoreflect, because the Go type of
// its values was renamed between opamp-go releases (AgentConfigFile in v0.23.0, AgentConfigObject
// in v0.24.0) while the wire format stayed the same.
func configMapOf(files map[string]string) *protobufs.AgentConfigMap {
	m := &protobufs.AgentConfigMap{}
	r := m.ProtoReflect()
	fd := r.Descriptor().Fields().ByName("config_map")
	mp := r.Mutable(fd).Map()
	for name, body := range files {
		v := mp.NewValue()
		file := v.Message()
		file.Set(file.Descriptor().Fields().ByName("body"), protoreflect.ValueOfBytes([]byte(body)))
		file.Set(file.Descriptor().Fields().ByName("content_type"), protoreflect.ValueOfString("text/yaml"))
		mp.Set(protoreflect.ValueOfString(name).MapKey(), v)
	}
	return m
}

func (a *agent) onMessage(ctx context.Context, n int, msg *types.MessageData) {
	fields := map[string]any{"client": n}
	if msg.RemoteConfig != nil {
		fields["remoteConfig"] = true
	}
	if msg.OfferedConnectionsSettingsHash != nil {
		fields["connectionSettingsHash"] = hex.EncodeToString(msg.OfferedConnectionsSettingsHash)
	}
	if msg.AgentIdentification != nil {
		fields["newInstanceUid"] = hex.EncodeToString(msg.AgentIdentification.NewInstanceUid)
	}
	emit("message", fields)
	if msg.AgentIdentification != nil {
		a.adoptInstanceUid(n, msg.AgentIdentification.NewInstanceUid)
	}
	if msg.RemoteConfig != nil {
		a.processRemoteConfig(ctx, n, msg.RemoteConfig)
	}
}

// adoptInstanceUid mirrors Supervisor.processAgentIdentificationMessage.
func (a *agent) adoptInstanceUid(n int, raw []byte) {
	if len(raw) != 16 {
		emit("log", map[string]any{"level": "error", "msg": "new_instance_uid is not 16 bytes"})
		return
	}
	var uid types.InstanceUid
	copy(uid[:], raw)
	a.mu.Lock()
	old := a.uid
	a.uid = uid
	a.state.InstanceUID = uuidString(uid)
	a.state.save(a.opts.stateDir)
	for _, attr := range a.desc.IdentifyingAttributes {
		if attr.Key == "service.instance.id" {
			attr.Value = &protobufs.AnyValue{Value: &protobufs.AnyValue_StringValue{StringValue: uuidString(uid)}}
		}
	}
	c := a.client
	a.mu.Unlock()
	if c != nil {
		_ = c.SetAgentDescription(a.desc)
	}
	emit("instance_uid_changed", map[string]any{"client": n, "from": uuidString(old), "to": uuidString(uid)})
}

// restartCollector mirrors Supervisor.handleRestartCommand: the collector process is stopped and
// started again; its health comes back with a new start time on the same OpAMP connection.
func (a *agent) restartCollector(n int) {
	a.mu.Lock()
	c := a.client
	a.startAt = uint64(time.Now().UnixNano())
	started := a.startAt
	a.mu.Unlock()
	if c == nil {
		return
	}
	a.setHealth(c, n, &protobufs.ComponentHealth{Healthy: true, Status: "StatusOK", StartTimeUnixNano: started})
	emit("collector_restarted", map[string]any{"client": n, "startTimeUnixNano": started})
}

// composeConfig mirrors the supervisor's merge: every entry of the map, names sorted, "" last;
// each body parsed as YAML whatever its content type. Returns the merged YAML.
func composeConfig(m *protobufs.AgentConfigMap) (map[string]any, error) {
	merged := map[string]any{}
	if m == nil {
		return merged, nil
	}
	names := make([]string, 0, len(m.ConfigMap))
	for k := range m.ConfigMap {
		if k != "" {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	if _, ok := m.ConfigMap[""]; ok {
		names = append(names, "")
	}
	for _, name := range names {
		var doc map[string]any
		if err := yaml.Unmarshal(m.ConfigMap[name].Body, &doc); err != nil {
			return nil, fmt.Errorf("cannot parse config named %s: %w", name, err)
		}
		for k, v := range doc {
			merged[k] = v
		}
	}
	return merged, nil
}

func (a *agent) processRemoteConfig(_ context.Context, n int, rc *protobufs.AgentRemoteConfig) {
	hash := hex.EncodeToString(rc.ConfigHash)
	keys := []string{}
	contentTypes := map[string]string{}
	body := ""
	if rc.Config != nil {
		for k, f := range rc.Config.ConfigMap {
			keys = append(keys, k)
			contentTypes[k] = f.ContentType
		}
		if f, ok := rc.Config.ConfigMap[""]; ok {
			body = string(f.Body)
		}
	}
	sort.Strings(keys)
	emit("config_received", map[string]any{"client": n, "hash": hash, "keys": keys, "contentTypes": contentTypes, "body": body})

	a.mu.Lock()
	c := a.client
	a.lastConfigRx = rc
	a.mu.Unlock()
	if c == nil {
		return
	}
	merged, err := composeConfig(rc.Config)
	if err == nil {
		if f, _ := merged["fail"].(bool); f {
			msg, _ := merged["fail_message"].(string)
			if msg == "" {
				msg = "interop: config rejected (fail: true)"
			}
			err = errors.New(msg)
		}
	}
	if err != nil {
		a.report(c, n, rc.ConfigHash, protobufs.RemoteConfigStatuses_RemoteConfigStatuses_FAILED, err.Error())
		a.setHealth(c, n, &protobufs.ComponentHealth{Healthy: false, Status: "StatusPermanentError", LastError: err.Error()})
		return
	}
	a.mu.Lock()
	same := a.effective == body && a.state.LastHash == hash && a.state.LastConfigOK
	a.mu.Unlock()
	if same {
		// Newer supervisors: an unchanged merged config is reported APPLIED at once.
		a.report(c, n, rc.ConfigHash, protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLIED, "")
		return
	}
	a.report(c, n, rc.ConfigHash, protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLYING, "")
	go func() {
		// The "collector restart".
		time.Sleep(a.opts.applyDelay)
		a.mu.Lock()
		a.effective = body
		a.state.LastConfig = body
		a.state.LastConfigOK = true
		cur := a.client
		a.mu.Unlock()
		if cur == nil {
			return
		}
		a.report(cur, n, rc.ConfigHash, protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLIED, "")
		a.setHealth(cur, n, &protobufs.ComponentHealth{Healthy: true, Status: "StatusOK", StartTimeUnixNano: a.startAt, StatusTimeUnixNano: uint64(time.Now().UnixNano())})
		if err := cur.UpdateEffectiveConfig(context.Background()); err != nil {
			emit("log", map[string]any{"level": "error", "msg": "UpdateEffectiveConfig: " + err.Error()})
		} else {
			emit("effective_config", map[string]any{"client": n, "hash": hash})
		}
	}()
}

func (a *agent) report(c client.OpAMPClient, n int, hash []byte, status protobufs.RemoteConfigStatuses, msg string) {
	rcs := &protobufs.RemoteConfigStatus{LastRemoteConfigHash: hash, Status: status, ErrorMessage: msg}
	a.mu.Lock()
	a.lastStatus = rcs
	a.state.LastHash = hex.EncodeToString(hash)
	a.state.LastStatus = int32(status)
	a.state.LastError = msg
	if status == protobufs.RemoteConfigStatuses_RemoteConfigStatuses_FAILED {
		a.state.LastConfigOK = false
	}
	a.state.save(a.opts.stateDir)
	a.mu.Unlock()
	err := c.SetRemoteConfigStatus(rcs)
	emit("config_status", map[string]any{
		"client": n, "hash": hex.EncodeToString(hash), "status": strings.TrimPrefix(status.String(), "RemoteConfigStatuses_"),
		"error": msg, "reportError": errString(err),
	})
}

func (a *agent) setHealth(c client.OpAMPClient, n int, h *protobufs.ComponentHealth) {
	a.mu.Lock()
	a.health = h
	a.mu.Unlock()
	err := c.SetHealth(h)
	emit("health", map[string]any{"client": n, "healthy": h.Healthy, "status": h.Status, "lastError": h.LastError, "reportError": errString(err)})
}

func (a *agent) shutdown() {
	a.switchMu.Lock()
	defer a.switchMu.Unlock()
	a.mu.Lock()
	c := a.client
	a.mu.Unlock()
	if c != nil {
		_ = c.SetHealth(&protobufs.ComponentHealth{Healthy: false, LastError: "Supervisor is shutdown"})
	}
	_ = a.stopClient()
}

// ---------------------------------------------------------------------------------------------

type headerFlag struct{ h http.Header }

func (f *headerFlag) String() string { return "" }
func (f *headerFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, ":")
	if !ok {
		return fmt.Errorf("want Name: value, got %q", v)
	}
	f.h.Add(strings.TrimSpace(k), strings.TrimSpace(val))
	return nil
}

func main() {
	hf := &headerFlag{h: make(http.Header)}
	var o options
	var token string
	var heartbeatSeconds int
	flag.StringVar(&o.endpoint, "endpoint", "", "OpAMP endpoint (ws://, wss://, http://, https://)")
	flag.StringVar(&token, "token", os.Getenv("AGENT_API_ENROLLMENT_TOKEN"), "bearer token (default $AGENT_API_ENROLLMENT_TOKEN)")
	flag.Var(hf, "header", "extra header 'Name: value' (repeatable)")
	flag.IntVar(&heartbeatSeconds, "heartbeat", 30, "heartbeat interval before any offer, seconds")
	flag.StringVar(&o.stateDir, "state-dir", "", "directory for state.json (instance uid, last config status)")
	flag.StringVar(&o.uid, "instance-uid", "", "instance UID (UUID); default: from state, or a new UUIDv7")
	flag.DurationVar(&o.applyDelay, "apply-delay", 200*time.Millisecond, "time between APPLYING and APPLIED")
	flag.BoolVar(&o.noConnSettings, "no-accepts-connection-settings", false, "do not set AcceptsOpAMPConnectionSettings")
	flag.BoolVar(&o.noHeartbeatCap, "no-reports-heartbeat", false, "do not set ReportsHeartbeat")
	flag.BoolVar(&o.acceptsRestart, "accepts-restart", false, "set AcceptsRestartCommand and act on Restart")
	flag.StringVar(&o.hostName, "host-name", "", "host.name in the agent description (default: the hostname)")
	flag.BoolVar(&o.compression, "compression", false, "EnableCompression: gzip HTTP bodies, permessage-deflate on WebSocket")
	flag.BoolVar(&o.debug, "debug", false, "also print the client's debug logs")
	flag.StringVar(&o.name, "service-name", "opamp-interop", "service.name in the agent description")
	flag.Parse()
	if o.endpoint == "" {
		fmt.Fprintln(os.Stderr, "-endpoint is required")
		os.Exit(2)
	}
	if token != "" {
		hf.h.Set("Authorization", "Bearer "+token)
	}
	o.headers = hf.h
	o.heartbeat = time.Duration(heartbeatSeconds) * time.Second
	if o.stateDir != "" {
		if err := os.MkdirAll(o.stateDir, 0o700); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	st, err := loadState(o.stateDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var uid types.InstanceUid
	switch {
	case o.uid != "":
		uid, err = parseUUID(o.uid)
	case st.InstanceUID != "":
		uid, err = parseUUID(st.InstanceUID)
	default:
		uid = newUUIDv7()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	st.InstanceUID = uuidString(uid)
	st.save(o.stateDir)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	caps := protobufs.AgentCapabilities_AgentCapabilities_ReportsStatus |
		protobufs.AgentCapabilities_AgentCapabilities_AcceptsRemoteConfig |
		protobufs.AgentCapabilities_AgentCapabilities_ReportsEffectiveConfig |
		protobufs.AgentCapabilities_AgentCapabilities_ReportsHealth |
		protobufs.AgentCapabilities_AgentCapabilities_ReportsRemoteConfig
	if !o.noConnSettings {
		caps |= protobufs.AgentCapabilities_AgentCapabilities_AcceptsOpAMPConnectionSettings
	}
	if !o.noHeartbeatCap {
		caps |= protobufs.AgentCapabilities_AgentCapabilities_ReportsHeartbeat
	}
	if o.acceptsRestart {
		caps |= protobufs.AgentCapabilities_AgentCapabilities_AcceptsRestartCommand
	}
	host, _ := os.Hostname()
	if o.hostName != "" {
		host = o.hostName
	}
	a := &agent{
		opts:    o,
		uid:     uid,
		state:   st,
		logger:  eventLogger{debug: o.debug},
		caps:    caps,
		runCtx:  ctx,
		startAt: uint64(time.Now().UnixNano()),
		server:  serverSettings{endpoint: o.endpoint, headers: o.headers, heartbeat: o.heartbeat},
		health:  &protobufs.ComponentHealth{Healthy: false},
	}
	ver := a.opampGoVersion()
	a.desc = &protobufs.AgentDescription{
		IdentifyingAttributes: []*protobufs.KeyValue{
			kv("service.instance.id", uuidString(uid)),
			kv("service.name", o.name),
			kv("service.version", "interop"),
		},
		NonIdentifyingAttributes: []*protobufs.KeyValue{
			kv("host.arch", runtime.GOARCH),
			kv("host.name", host),
			kv("os.type", runtime.GOOS),
			kv("opamp_go.version", ver),
		},
	}
	if st.LastHash != "" {
		h, _ := hex.DecodeString(st.LastHash)
		a.lastStatus = &protobufs.RemoteConfigStatus{LastRemoteConfigHash: h, Status: protobufs.RemoteConfigStatuses(st.LastStatus), ErrorMessage: st.LastError}
	}
	if st.LastConfigOK {
		// Like the supervisor, start the "collector" from the last config without the server.
		a.effective = st.LastConfig
		a.health = &protobufs.ComponentHealth{Healthy: true, Status: "StatusOK", StartTimeUnixNano: a.startAt}
	}
	emit("started", map[string]any{
		"instanceUid": uuidString(uid), "opampGoVersion": ver, "goVersion": runtime.Version(), "pid": os.Getpid(),
		"capabilities": uint64(caps), "lastRemoteConfigHash": st.LastHash,
	})

	a.switchMu.Lock()
	err = a.startClient()
	a.switchMu.Unlock()
	if err != nil {
		emit("log", map[string]any{"level": "error", "msg": "start: " + err.Error()})
		os.Exit(1)
	}

	done := make(chan string, 2)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() { done <- "signal " + (<-sigs).String() }()
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			if strings.TrimSpace(sc.Text()) == "stop" {
				done <- "stdin stop"
				return
			}
		}
		done <- "stdin closed"
	}()
	reason := <-done
	a.shutdown()
	cancel()
	emit("stopped", map[string]any{"reason": reason})
}
