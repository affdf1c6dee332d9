// Reading a TLS ClientHello for passthrough routing: the server name (SNI)
// and the ALPN list a client sends in the clear, read from the bytes a
// connection has delivered so far, without terminating TLS.
//
// The reader is strict where a wrong guess would route a connection on bytes
// that are not what they seem (lengths that disagree, a second server_name,
// a host name that is not a DNS name) and refuses rather than guesses; the
// reason names the field and the byte at fault. It is a pure function of its
// input: call it again with more bytes until it stops answering `incomplete`.
// It never throws and allocates only its result. A ClientHello split over
// several handshake records is read as one message (a cursor steps over the
// record headers), up to `maxRecords` records and `maxHandshakeBytes`, so a
// caller never buffers more than `clientHelloBufferLimit(limits)` bytes.
// With ECH the name read is the outer, public one: the name the client lets
// a passthrough proxy route on.

export type ClientHelloRead =
  | { kind: 'incomplete' } // a ClientHello has begun, or nothing has arrived: more bytes are needed
  | { kind: 'hello'; sni: string | null; alpn: readonly string[]; recordBytes: number }
  | { kind: 'refused'; at: number; reason: string }; // `at`: the input byte at fault

export interface ClientHelloLimits {
  /** The ClientHello message's body at most (the 4-byte handshake header aside). */
  maxHandshakeBytes: number;
  /** The handshake records the ClientHello may be split over. */
  maxRecords: number;
}

/** One full record's worth: clients with post-quantum key shares send about 1.8 KB. */
export const CLIENT_HELLO_LIMITS: ClientHelloLimits = Object.freeze({ maxHandshakeBytes: 16384, maxRecords: 4 });

/** The most bytes a caller buffers before the reader answers something other than `incomplete`. */
export function clientHelloBufferLimit(limits: ClientHelloLimits = CLIENT_HELLO_LIMITS): number {
  return limits.maxHandshakeBytes + HANDSHAKE_HEADER + limits.maxRecords * RECORD_HEADER;
}

const RECORD_HEADER = 5;
const HANDSHAKE_HEADER = 4;
const CONTENT_HANDSHAKE = 22;
const HANDSHAKE_CLIENT_HELLO = 1;
const MAX_RECORD_FRAGMENT = 16384; // RFC 8446 5.1: 2^14
const EXT_SERVER_NAME = 0;
const EXT_ALPN = 16;
const NAME_TYPE_HOST_NAME = 0;
const MAX_HOST_NAME = 255; // RFC 6066 section 3; OpenSSL's TLSEXT_MAXLEN_host_name
const NO_ALPN: readonly string[] = Object.freeze([]);
const INCOMPLETE: ClientHelloRead = Object.freeze({ kind: 'incomplete' });

/** Reads the ClientHello at the start of `input` (the bytes a connection has delivered so far). */
export function readClientHello(input: Buffer, limits: ClientHelloLimits = CLIENT_HELLO_LIMITS): ClientHelloRead {
  if (input.length === 0) return INCOMPLETE;
  const first = input[0];
  if (first !== CONTENT_HANDSHAKE) {
    if (first & 0x80) return refuse(0, `byte 0 is 0x${hex(first)}: an SSLv2 record header, which is not supported`);
    return refuse(0, `byte 0 is 0x${hex(first)}, not a TLS handshake record (0x16)`);
  }
  // First pass: the record headers and the handshake header, refusing as early as the bytes allow.
  let pos = 0;
  let records = 0;
  let gathered = 0; // handshake bytes in the records seen
  let messageBytes = -1; // handshake header + body, once the header has arrived
  let type = 0;
  let bodyLength = 0;
  let lengthAt = 0; // where the 3-byte body length begins
  let firstFragmentEnd = 0;
  for (;;) {
    if (pos === input.length) return INCOMPLETE;
    const contentType = input[pos];
    if (contentType !== CONTENT_HANDSHAKE) {
      return refuse(
        pos,
        `record ${records + 1} at byte ${pos} is of type ${contentType}; the ClientHello's records must all be handshake (22)`,
      );
    }
    if (pos + 1 < input.length && input[pos + 1] !== 3) {
      return refuse(pos + 1, `record ${records + 1}: version major ${input[pos + 1]} is not 3 (TLS)`);
    }
    if (pos + 2 < input.length && input[pos + 2] > 4) {
      return refuse(pos + 2, `record ${records + 1}: version 3.${input[pos + 2]} is not a TLS version`);
    }
    if (pos + RECORD_HEADER > input.length) return INCOMPLETE;
    const fragment = (input[pos + 3] << 8) | input[pos + 4];
    if (fragment === 0) return refuse(pos + 3, `record ${records + 1}: a zero-length handshake record`);
    if (fragment > MAX_RECORD_FRAGMENT) {
      return refuse(pos + 3, `record ${records + 1}: length ${fragment} exceeds the TLS limit of ${MAX_RECORD_FRAGMENT}`);
    }
    records++;
    if (records > limits.maxRecords) return refuse(pos, `the ClientHello spans more than ${limits.maxRecords} records`);
    const start = pos + RECORD_HEADER;
    if (records === 1) firstFragmentEnd = start + fragment;
    // The handshake header itself may be split over records: take its bytes as they come.
    const available = Math.min(fragment, input.length - start);
    for (let i = 0; gathered + i < HANDSHAKE_HEADER && i < available; i++) {
      const b = input[start + i];
      const index = gathered + i;
      if (index === 0) {
        type = b;
        if (type !== HANDSHAKE_CLIENT_HELLO) return refuse(start + i, `handshake type ${type} is not a ClientHello (1)`);
      } else {
        if (index === 1) lengthAt = start + i;
        bodyLength = (bodyLength << 8) | b;
        if (index === HANDSHAKE_HEADER - 1) {
          if (bodyLength > limits.maxHandshakeBytes) {
            return refuse(lengthAt, `ClientHello length ${bodyLength} exceeds the limit of ${limits.maxHandshakeBytes}`);
          }
          messageBytes = HANDSHAKE_HEADER + bodyLength;
        }
      }
    }
    if (messageBytes >= 0 && gathered + fragment > messageBytes) {
      return refuse(pos + 3, `record ${records}: length ${fragment} runs ${gathered + fragment - messageBytes} bytes past the ClientHello`);
    }
    if (start + fragment > input.length) return INCOMPLETE;
    gathered += fragment;
    pos = start + fragment;
    if (gathered === messageBytes) break;
  }
  // Second pass: the whole message is there; read its body through the cursor.
  const c = CURSOR;
  c.src = input;
  c.at = RECORD_HEADER;
  c.fragmentEnd = firstFragmentEnd;
  c.offset = 0;
  c.skip(HANDSHAKE_HEADER); // read in the first pass; it may span records
  const result = readBody(c, messageBytes, pos);
  c.src = EMPTY;
  return result;
}

const EMPTY = Buffer.alloc(0);

/**
 * The cursor over the handshake message: `offset` counts message bytes, `at`
 * is the input byte it stands on. One instance serves every call, so a read
 * allocates nothing; readClientHello is synchronous, never reentered.
 */
class HandshakeCursor {
  src: Buffer = EMPTY;
  at = 0;
  fragmentEnd = 0;
  offset = 0;

  /** Steps over a record header when the cursor reaches the end of a record (the first pass checked them all). */
  enterRecord(): void {
    if (this.at === this.fragmentEnd) {
      this.fragmentEnd = this.at + RECORD_HEADER + ((this.src[this.at + 3] << 8) | this.src[this.at + 4]);
      this.at += RECORD_HEADER;
    }
  }

  u8(): number {
    this.enterRecord();
    this.offset++;
    return this.src[this.at++];
  }

  u16(): number {
    return (this.u8() << 8) | this.u8();
  }

  skip(n: number): void {
    while (n > 0) {
      this.enterRecord();
      const step = Math.min(n, this.fragmentEnd - this.at);
      this.at += step;
      this.offset += step;
      n -= step;
    }
  }

  /** `n` bytes as a latin1 string: one slice when they sit in one record. */
  latin1(n: number): string {
    this.enterRecord();
    if (this.fragmentEnd - this.at >= n) {
      const s = this.src.toString('latin1', this.at, this.at + n);
      this.at += n;
      this.offset += n;
      return s;
    }
    let s = '';
    for (let i = 0; i < n; i++) s += String.fromCharCode(this.u8());
    return s;
  }

  /** The input byte `ahead` message bytes past the cursor, for naming where a fault lies (the cursor itself stays). */
  byteAt(ahead: number): number {
    const src = this.src;
    let p = this.at;
    let end = this.fragmentEnd;
    for (;;) {
      if (p === end) {
        if (p + RECORD_HEADER > src.length) return src.length; // past the checked records: never loop on bad input
        end = p + RECORD_HEADER + ((src[p + 3] << 8) | src[p + 4]);
        p += RECORD_HEADER;
      }
      if (ahead < end - p) return p + ahead;
      ahead -= end - p;
      p = end;
    }
  }
}

const CURSOR = new HandshakeCursor();

function readBody(c: HandshakeCursor, messageEnd: number, recordBytes: number): ClientHelloRead {
  if (messageEnd - c.offset < 2 + 32 + 1) return refuse(c.at, `ClientHello body of ${messageEnd - c.offset} bytes is too short`);
  const versionAt = c.byteAt(0);
  const version = c.u16();
  if (version >> 8 !== 3) return refuse(versionAt, `ClientHello legacy_version 0x${hex(version)} is not TLS`);
  c.skip(32); // random
  const sessionIdAt = c.byteAt(0);
  const sessionId = c.u8();
  if (sessionId > 32) return refuse(sessionIdAt, `legacy_session_id length ${sessionId} exceeds 32`);
  if (messageEnd - c.offset < sessionId + 2) return refuse(sessionIdAt, `legacy_session_id length ${sessionId} runs past the ClientHello`);
  c.skip(sessionId);
  const suitesAt = c.byteAt(0);
  const suites = c.u16();
  if (suites === 0 || suites & 1) return refuse(suitesAt, `cipher_suites length ${suites} is not a positive even number`);
  if (messageEnd - c.offset < suites + 1) return refuse(suitesAt, `cipher_suites length ${suites} runs past the ClientHello`);
  c.skip(suites);
  const compressionAt = c.byteAt(0);
  const compression = c.u8();
  if (compression === 0) return refuse(compressionAt, 'legacy_compression_methods is empty');
  if (messageEnd - c.offset < compression)
    return refuse(compressionAt, `legacy_compression_methods length ${compression} runs past the ClientHello`);
  c.skip(compression);
  // Before TLS 1.2 the extensions block is optional: a hello may end here.
  if (c.offset === messageEnd) return { kind: 'hello', sni: null, alpn: NO_ALPN, recordBytes };
  const extensionsAt = c.byteAt(0);
  if (messageEnd - c.offset < 2) return refuse(extensionsAt, 'a 1-byte extensions length');
  const extensions = c.u16();
  if (extensions !== messageEnd - c.offset) {
    return refuse(extensionsAt, `extensions length ${extensions}, but ${messageEnd - c.offset} bytes of the ClientHello remain`);
  }
  let sni: string | null = null;
  let sawSni = false;
  let alpn: readonly string[] = NO_ALPN;
  let sawAlpn = false;
  while (c.offset < messageEnd) {
    const extensionAt = c.byteAt(0);
    if (messageEnd - c.offset < 4) return refuse(extensionAt, `${messageEnd - c.offset} stray bytes where an extension header belongs`);
    const type = c.u16();
    const length = c.u16();
    if (length > messageEnd - c.offset) return refuse(extensionAt, `extension ${type}: length ${length} runs past the extensions block`);
    const end = c.offset + length;
    if (type === EXT_SERVER_NAME) {
      if (sawSni) return refuse(extensionAt, 'a second server_name extension');
      sawSni = true;
      const name = readServerName(c, end, extensionAt);
      if (typeof name !== 'string') return name;
      sni = name;
    } else if (type === EXT_ALPN) {
      if (sawAlpn) return refuse(extensionAt, 'a second application_layer_protocol_negotiation extension');
      sawAlpn = true;
      const list = readAlpn(c, end, extensionAt);
      if (!Array.isArray(list)) return list as ClientHelloRead;
      alpn = list;
    } else {
      c.skip(length);
    }
  }
  return { kind: 'hello', sni, alpn, recordBytes };
}

/** RFC 6066 section 3: a ServerNameList holding one host_name, as OpenSSL also requires. */
function readServerName(c: HandshakeCursor, end: number, extensionAt: number): string | ClientHelloRead {
  if (end - c.offset < 2) return refuse(extensionAt, 'server_name: the extension is too short for its list length');
  const listAt = c.byteAt(0);
  const list = c.u16();
  if (list !== end - c.offset) return refuse(listAt, `server_name: list length ${list}, but the extension holds ${end - c.offset} bytes`);
  if (list < 3) return refuse(listAt, `server_name: list length ${list} is too short for a name`);
  const typeAt = c.byteAt(0);
  const nameType = c.u8();
  if (nameType !== NAME_TYPE_HOST_NAME) return refuse(typeAt, `server_name: name type ${nameType} is not host_name (0)`);
  const lengthAt = c.byteAt(0);
  const length = c.u16();
  if (length === 0) return refuse(lengthAt, 'server_name: an empty host_name');
  if (length > end - c.offset) return refuse(lengthAt, `server_name: host_name length ${length} runs past the list`);
  if (length < end - c.offset) return refuse(c.byteAt(length), 'server_name: a second name in the list');
  const nameAt = c.byteAt(0);
  const name = c.latin1(length);
  const fault = hostNameFault(name);
  if (fault !== null) return refuse(nameAt, `server_name: host_name ${JSON.stringify(name)} ${fault}`);
  const trimmed = name.charCodeAt(name.length - 1) === 0x2e ? name.slice(0, -1) : name;
  return hasUpper(trimmed) ? trimmed.toLowerCase() : trimmed;
}

/** RFC 7301 section 3.1: a ProtocolNameList of non-empty names filling the extension. */
function readAlpn(c: HandshakeCursor, end: number, extensionAt: number): string[] | ClientHelloRead {
  if (end - c.offset < 2)
    return refuse(extensionAt, 'application_layer_protocol_negotiation: the extension is too short for its list length');
  const listAt = c.byteAt(0);
  const list = c.u16();
  if (list !== end - c.offset || list < 2) {
    return refuse(listAt, `application_layer_protocol_negotiation: list length ${list}, but the extension holds ${end - c.offset} bytes`);
  }
  const names: string[] = [];
  while (c.offset < end) {
    const nameAt = c.byteAt(0);
    const length = c.u8();
    if (length === 0) return refuse(nameAt, 'application_layer_protocol_negotiation: an empty protocol name');
    if (length > end - c.offset) return refuse(nameAt, `application_layer_protocol_negotiation: name length ${length} runs past the list`);
    names.push(c.latin1(length));
  }
  return names;
}

/**
 * Why `name` is not a DNS host name, or null: letters, digits, hyphens and
 * dots, labels of 1 to 63, 255 at most. RFC 6066 forbids the trailing dot;
 * it is tolerated (and dropped) since it names the same host.
 */
function hostNameFault(name: string): string | null {
  if (name.length > MAX_HOST_NAME) return `is longer than ${MAX_HOST_NAME} bytes`;
  let label = 0;
  const last = name.length - 1;
  for (let i = 0; i <= last; i++) {
    const c = name.charCodeAt(i);
    if (c === 0x2e) {
      if (label === 0) return `has an empty label at byte ${i}`;
      label = 0;
      continue;
    }
    const ldh = (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x2d;
    if (!ldh) return `has byte 0x${hex(c)} at ${i}, not a letter, digit, hyphen or dot`;
    if (++label > 63) return `has a label longer than 63 bytes at byte ${i}`;
  }
  return null;
}

function hasUpper(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) return true;
  }
  return false;
}

function refuse(at: number, reason: string): ClientHelloRead {
  return { kind: 'refused', at, reason: `${reason} (byte ${at})` };
}

function hex(n: number): string {
  return n.toString(16).padStart(2, '0');
}
