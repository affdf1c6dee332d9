// The compiled configuration: what the parsers (native and KTCPVS) produce and
// what the data path consumes. Nothing here is parsed again per request.
import type { AffinitySpec } from '../affinity/spec.ts';
import type { ActiveCheckSpec, HealthSpec } from '../health/spec.ts';
import type { Network } from '../net/networks.ts';
import type { CertificateFiles } from '../tls/certificates.ts';

export interface Endpoint {
  host: string; // IPv4 literal, IPv6 literal without brackets, or a name
  port: number;
}

// Upper bound on a shared table (persistence pins, lblc/lblcr key tables) that
// keeps a typo from allocating gigabytes: tables are allocated whole in shared
// memory; 1M pins take about 38 MB, 1M lblcr entries about 120 MB.
export const MAX_TABLE_ENTRIES = 1_048_576;
/** The highest server weight (IPVS's bound too). */
export const MAX_WEIGHT = 65535;

export interface ServerSpec extends Endpoint {
  weight: number; // 0..MAX_WEIGHT; 0 = quiescent: no new requests, running ones finish
  // `send-proxy` (1) or `send-proxy-v2` (2): every connection to it begins
  // with a PROXY header naming the client, and serves that client alone.
  sendProxy?: 1 | 2;
  // `tls [verify CA-FILE | no-verify] [sni NAME]`: connections to it speak TLS (docs/tls.md).
  tls?: ServerTlsSpec;
}

/**
 * TLS to a server. The CA file's PEM text is read when the config is loaded
 * (lib/config/load.ts), as a service's certificates are: each data path
 * builds its connector from the text (a SecureContext cannot cross threads).
 */
export interface ServerTlsSpec {
  verify: 'system' | 'no-verify' | 'ca'; // system: Node's bundled CAs; ca: the CA file's
  caFile?: string; // with verify 'ca', resolved against the config file's directory
  caPem?: string; // its text, once loaded
  sni?: string; // the name sent as SNI and checked against the certificate; default the host when it is a name
  line: number; // the server line, for errors about the file
}

/** What hashing and locality schedulers hash or remember a request by. */
export type HashKey =
  | { kind: 'path' } // normalised path without query (the default; lib/route/normalise.ts)
  | { kind: 'path-query' } // normalised path and the query as sent
  | { kind: 'host' } // host without port or trailing dot, lower-case
  | { kind: 'client' } // client address
  | { kind: 'header'; name: string } // first value of this header (name lower-case)
  | { kind: 'cookie'; name: string }
  | { kind: 'submatch'; index: number }; // submatch N of the matching url-regex route (KTCPVS hhttp)

/**
 * Per-group knobs of particular schedulers; each scheduler reads only its
 * own. Each field's statement, syntax and checks are in the descriptor of the
 * schedulers that take it (lib/sched/<name>.ts).
 */
export interface SchedulerTuning {
  balanceFactor?: number; // chbl, mh: c, a server takes at most ceil(c * mean load); chbl's default 1.25, mh's none (plain Maglev)
  balanceOn?: 'requests' | 'active'; // chbl, mh: load = recent requests sent (decayed count) or requests in flight; default requests
  tableSize?: number; // mh: lookup table size, a prime >= 100 * servers; default 65537
  maxEntries?: number; // lblc, lblcr: bound of the key table; default 16384
  expireMs?: number; // lblc, lblcr: an entry unused this long is dropped; default 24 h
  setExpireMs?: number; // lblcr: a set unchanged this long sheds its busiest server; default 24 h
  seed?: number; // p2c: random seed, for repeatable tests
}

export interface GroupSpec {
  name: string;
  scheduler: string; // rr | wrr | lc | wlc | hhttp (KTCPVS) | ...
  servers: ServerSpec[];
  // For hashing schedulers (KTCPVS hhttp): which submatch of the rule's regex is the key.
  // Set whenever `key` is a submatch, so the router knows to capture it.
  hashSubmatch?: number;
  key?: HashKey; // undefined: { kind: 'path' }, or the submatch when hashSubmatch is set
  tuning?: SchedulerTuning;
  affinity?: AffinitySpec; // session persistence: source address, cookie or header
  health?: HealthSpec; // active and agent checks, passive ejection, slow start (lib/health)
}

export type MatchOp = { op: 'present' } | { op: 'equals'; value: string } | { op: 'regex'; re: RegExp };

export type Matcher =
  | { kind: 'path'; value: string } // exact normalised path, query excluded
  | { kind: 'prefix'; value: string } // normalised path prefix
  // `text` is the regex as written, for printing and for finding a rule by its
  // pattern (tcpvsadm --del-rule): RegExp#source escapes '/' and newlines.
  // Absent: regexText(re) (lib/config/tokenize.ts).
  | { kind: 'path-regex'; re: RegExp; text?: string } // tested against the path (or path+query for KTCPVS, see `target`)
  | { kind: 'url-regex'; re: RegExp; text?: string } // tested against the normalised target: path + '?' + query as sent (KTCPVS patterns)
  | { kind: 'host'; value: string; wildcard: boolean } // lower-case; wildcard: value is the suffix ".example.com"
  | { kind: 'sni'; value: string; wildcard: boolean } // a `mode tls-passthrough` service's only matcher; as `host`, but *. is one label
  | { kind: 'method'; values: string[] } // upper-case
  | ({ kind: 'header'; name: string } & MatchOp) // name lower-case
  | ({ kind: 'cookie'; name: string } & MatchOp)
  | ({ kind: 'query'; name: string } & MatchOp);

export interface RuleSpec {
  name: string;
  matchers: Matcher[]; // all must hold
  group: string;
  file: string;
  line: number;
}

export interface Timeouts {
  clientHeaderMs: number; // whole head must arrive within this (slowloris): 408
  clientIdleMs: number; // keep-alive idle between requests
  connectMs: number; // upstream connect: 504
  responseMs: number; // upstream response must start within this: 504
  upstreamIdleMs: number; // idle pooled upstream connection is closed after this
  clientBodyMs: number; // the whole request body must arrive within this (plus its bytes at the minimum rate): 408
}

export interface Limits {
  maxUriBytes: number; // 414 above
  maxHeaderBytes: number; // 431 above (whole head)
  poolMaxIdlePerServer: number; // idle upstream connections kept per real server
  maxHeaderCount: number; // 431 above (request header fields)
  bodyMinRate: number; // bytes/s: each such amount of request body adds a second to timeout client-body; 0: none
  retries: number; // a failed connect is tried again on another server of the group this many times
}

export interface ServiceSpec {
  name: string;
  listen: Endpoint;
  groups: GroupSpec[];
  rules: RuleSpec[];
  defaultGroup: string | null; // null: 404 when nothing matches
  timeouts: Timeouts;
  limits: Limits;
  // PROXY protocol headers are read from these sources (`accept-proxy from
  // ...`) and refused from any other; absent: not read at all.
  acceptProxy?: Network[];
  // Set by a `real self` of the user-space L4 core: the core sends a PROXY
  // header, from the service's own listen address, which is then trusted too.
  acceptProxyFromL4?: boolean;
  // `normalize-path forward`: the upstream request line carries the
  // normalised path (lib/route/normalise.ts); absent or false, the client's.
  forwardNormalizedPath?: boolean;
  // `listen HOST:PORT tls`: the service terminates TLS (docs/tls.md).
  tls?: TlsSpec;
  // `mode tls-passthrough`: connections are routed by the ClientHello's SNI
  // and passed through undecrypted (lib/proxy/passthrough.ts); absent: HTTP.
  mode?: 'tls-passthrough';
  file: string;
  line: number;
}

/** A TLS-terminating service's certificates and options. */
export interface TlsSpec {
  // The `certificate FILE key FILE` lines in order, the first the default.
  // Their PEM text is read and checked when the config is loaded
  // (lib/config/load.ts): every data path builds its own contexts from it,
  // since a SecureContext cannot cross threads, and a reload that cannot
  // read them changes nothing.
  certificates: CertificateFiles[];
  ciphers?: string; // `ciphers STRING`: OpenSSL's TLS 1.2 list instead of the built-in one
  strictSni: boolean; // `strict-sni`: a request whose Host is not the SNI name gets 421
}

export interface LogSpec {
  level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
  destination: string; // 'stdout' | 'stderr' | a file path
}

/** An L4 virtual service that tcpvs programs into its L4 core (a `vip` block). */
export interface VipSpec {
  name: string;
  protocol: 'tcp' | 'udp';
  address: string;
  port: number;
  scheduler: string; // any tcpvs scheduler the L4 core can use; default wlc as ipvsadm
  persistence: { timeoutSec: number; netmask: string } | null; // ipvsadm -p / -M
  reals: VipRealSpec[];
  weightFollowsLoad: boolean; // this tcpvs's own weight tracks its load
  check?: ActiveCheckSpec; // the director checks every real server (registered ones too); a failed one is removed until it rises
  file: string;
  line: number;
}

export type VipRealSpec =
  | { kind: 'self'; service: string; weight: number; sendProxy?: 1 | 2; line: number } // this tcpvs's service, at its listen address
  | {
      kind: 'address';
      address: string;
      port: number;
      weight: number;
      method: 'masq' | 'route' | 'tunnel';
      sendProxy?: 1 | 2;
      line: number;
    };

export interface L4Spec {
  // userspace: this tcpvs embeds the L4 core and serves the VIPs itself;
  // ipvs: it programs kernel IPVS through ipvsadm;
  // remote: it registers its own services in the L4 core of another tcpvs, through that one's admin socket.
  driver: 'userspace' | 'ipvs' | 'remote';
  admin: string | null; // the admin socket this tcpvs serves (or, for remote, the one it registers through: a path or tcp://HOST:PORT)
  adminToken?: string; // remote through tcp://: the director's admin token (else TCPVS_ADMIN_TOKEN)
  drainTimeoutMs: number; // on a graceful stop, how long to wait for this node's connections to finish
  vips: VipSpec[];
  vrrp?: VrrpSpec; // a backup director: `tcpvs keepalived` writes keepalived's VRRP config for the vips
  sync?: L4SyncSpec; // persistence templates exchanged with the other director
  notify?: string[]; // `notify COMMAND [ARG...]`: run on director and L4 real-server state changes
}

/** `sync listen|peer|secret`: the user-space core's state sync between two directors. */
export interface L4SyncSpec {
  listen: Endpoint; // where the peer connects to send its templates
  peer: Endpoint; // where this director sends its own
  secret: string; // shared by both directors; proves each line
  line: number;
}

/** `vrrp ...` statements: how this director shares its vips' addresses with a backup through keepalived. */
export interface VrrpSpec {
  interface: string; // where the vip addresses are added
  routerId: number; // virtual_router_id, 1..255, the same on every director of the pair
  priority: number; // 1..254: the live director with the highest holds the addresses
  advertMs: number; // advert_int
  auth: string | null; // PASS authentication, at most 8 characters
  source: string | null; // unicast_src_ip
  peers: string[]; // unicast peers; none: multicast
  prefix: number | null; // the vip addresses' prefix length; null: 32 or 128
  notify: string | null; // command keepalived runs on master, backup and fault
  line: number;
}

export const DEFAULT_DRAIN_TIMEOUT_MS = 30_000;

export interface Config {
  format: 'native' | 'ktcpvs';
  file: string;
  services: ServiceSpec[];
  log: LogSpec;
  l4: L4Spec | null; // null: no L4 core is programmed
  warnings: ConfigWarning[];
  // `admin http HOST:PORT [token SECRET]`: the stats page, /stats.json and /metrics; null or absent: none.
  adminHttp?: { host: string; port: number; token: string | null } | null;
  adminTcp?: { host: string; port: number; token: string; allowLoad: boolean } | null; // the admin protocol over TCP, token required; allowLoad: tcpvs.load over it
}

export interface ConfigWarning {
  file: string;
  line: number;
  field: string;
  message: string;
}

export const DEFAULT_TIMEOUTS: Timeouts = {
  clientHeaderMs: 10_000,
  clientIdleMs: 60_000,
  connectMs: 5_000,
  responseMs: 60_000,
  // Shorter than the usual backend keep-alive (Node 5 s, nginx 75 s) so we
  // rarely reuse a connection the backend is about to close.
  upstreamIdleMs: 4_000,
  clientBodyMs: 60_000,
};

export const DEFAULT_LIMITS: Limits = {
  maxUriBytes: 8192,
  maxHeaderBytes: 16384,
  poolMaxIdlePerServer: 64,
  maxHeaderCount: 100, // HAProxy allows 101 fields, nginx none to speak of
  bodyMinRate: 0,
  retries: 2, // HAProxy's `retries` is 3 attempts in all; with `redispatch` they go elsewhere
};

export const DEFAULT_LOG: LogSpec = { level: 'info', destination: 'stdout' };
