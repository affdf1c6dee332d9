// The one place that touches Node's built-in llhttp binding.
//
// We use llhttp for heads only: the head-complete callback answers 2
// ("upgrade"), which makes llhttp stop exactly at the end of the head and
// report how many bytes it used. Body framing is then tracked by
// body-framer.ts over the raw bytes, so bodies are spliced without the copy
// Node's parser makes for every body chunk. llhttp resumes with the next
// message on the same parser; we still re-initialise it per head (see feed).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
// `_http_common` is Node's own public-but-undocumented module that exposes the binding.
const common = require('node:_http_common') as {
  HTTPParser: HTTPParserCtor;
  methods: string[];
};

interface HTTPParserInstance {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(buf: Buffer): number | ParseErrorObject;
  finish(): unknown;
  close(): void;
  free(): void;
  [key: number]: unknown;
}
interface HTTPParserCtor {
  new (): HTTPParserInstance;
  REQUEST: number;
  RESPONSE: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
  kOnExecute: number;
  kLenientNone: number;
}
interface ParseErrorObject extends Error {
  code: string;
  reason: string;
  bytesParsed: number;
}

const { HTTPParser, methods } = common;
const asyncResource = {};

export type HeadKind = 'request' | 'response';

/** An llhttp error, with llhttp's code (e.g. HPE_INVALID_HEADER_TOKEN) and reason. */
export class HeadParseError extends Error {
  readonly code: string;
  readonly offset: number; // bytes of the current chunk consumed before the error
  constructor(code: string, reason: string, offset: number) {
    super(reason);
    this.code = code;
    this.offset = offset;
  }
}

/**
 * Parses one message head after another from a byte stream. After `feed`
 * returns a byte count, the fields below describe the head just completed
 * and stay valid until the next `feed`.
 */
export class HeadParser {
  readonly kind: HeadKind;
  private readonly parser: HTTPParserInstance;
  private maxHeaderBytes: number;
  private done = false;

  versionMajor = 1;
  versionMinor = 1;
  method = ''; // requests
  url = ''; // requests
  statusCode = 0; // responses
  statusMessage = ''; // responses
  headers: string[] = []; // flat name, value, ...
  keepAlive = true; // llhttp's view from version and Connection
  upgrade = false; // Connection: upgrade + Upgrade present (or CONNECT)

  constructor(kind: HeadKind, maxHeaderBytes: number) {
    this.kind = kind;
    this.maxHeaderBytes = maxHeaderBytes;
    this.parser = new HTTPParser();
    const p = this.parser;
    // More than 32 header pairs arrive in pieces through kOnHeaders first.
    p[HTTPParser.kOnHeaders] = (headers: string[], url: string) => {
      for (let i = 0; i < headers.length; i++) this.headers.push(headers[i]);
      if (url) this.url += url;
    };
    p[HTTPParser.kOnHeadersComplete] = (
      versionMajor: number,
      versionMinor: number,
      headers: string[] | undefined,
      method: number | undefined,
      url: string | undefined,
      statusCode: number | undefined,
      statusMessage: string | undefined,
      upgrade: boolean,
      shouldKeepAlive: boolean,
    ): number => {
      this.versionMajor = versionMajor;
      this.versionMinor = versionMinor;
      if (headers !== undefined) {
        if (this.headers.length === 0) this.headers = headers;
        else for (let i = 0; i < headers.length; i++) this.headers.push(headers[i]);
      }
      if (method !== undefined) this.method = methods[method];
      if (url) this.url += url;
      this.statusCode = statusCode ?? 0;
      this.statusMessage = statusMessage ?? '';
      this.upgrade = upgrade;
      this.keepAlive = shouldKeepAlive;
      this.done = true;
      return 2; // stop llhttp at the end of the head: we frame the body ourselves
    };
    p[HTTPParser.kOnMessageComplete] = noop;
    this.reset();
  }

  /** The head size limit now in force. */
  get limit(): number {
    return this.maxHeaderBytes;
  }

  /** A new head size limit (a config change); call it between heads only, as it starts afresh. */
  setLimit(maxHeaderBytes: number): void {
    if (maxHeaderBytes === this.maxHeaderBytes) return;
    this.maxHeaderBytes = maxHeaderBytes;
    this.reset();
  }

  /** Forget any partial head and start afresh (after an error, or for a new connection). */
  reset(): void {
    this.parser.initialize(
      this.kind === 'request' ? HTTPParser.REQUEST : HTTPParser.RESPONSE,
      asyncResource,
      this.maxHeaderBytes,
      HTTPParser.kLenientNone,
    );
    this.beginHead();
  }

  private beginHead(): void {
    this.done = false;
    this.headers = EMPTY;
    this.url = '';
    this.method = '';
  }

  /**
   * Feeds bytes of a head. Returns the number of bytes that completed the
   * head, or -1 when all of `chunk` was consumed and the head is still open.
   * Throws HeadParseError on malformed input.
   */
  feed(chunk: Buffer): number {
    // Start each head on a freshly initialised parser: after a head that
    // ended with our "upgrade" answer, llhttp keeps its upgrade flag, and
    // Node's binding then reports the next message's parse error as a plain
    // byte count, hiding it.
    if (this.done) this.reset();
    if (this.headers === EMPTY) this.headers = [];
    const r = this.parser.execute(chunk);
    if (typeof r !== 'number') {
      const e = r as ParseErrorObject;
      throw new HeadParseError(e.code, e.reason, e.bytesParsed);
    }
    return this.done ? r : -1;
  }

  close(): void {
    this.parser.close();
  }
}

const EMPTY: string[] = [];
function noop(): void {}
