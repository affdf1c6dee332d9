// The admin socket's wire format: JSON lines over a Unix socket.
//   request   {"id":1,"method":"l4.list","params":{}}
//   answer    {"id":1,"result":...}   or   {"id":1,"error":{"code":"no-service","message":"No such service"}}
// One request per line, answers in request order on each connection.

/** The longest request line the server reads; a longer one ends the connection. */
export const MAX_REQUEST_LINE = 1024 * 1024;
/** The longest answer line a client reads (a large `l4.list` can be big). */
export const MAX_RESPONSE_LINE = 64 * 1024 * 1024;

export type AdminId = number | string;

export interface AdminRequest {
  id: AdminId;
  method: string;
  params?: unknown;
}

export interface AdminErrorBody {
  code: string;
  message: string;
}

export type AdminResponse = { id: AdminId | null; result: unknown } | { id: AdminId | null; error: AdminErrorBody };

/** Error codes the server itself answers with (handlers add their own, e.g. L4Error's). */
export const ADMIN_ERROR = {
  badRequest: 'bad-request',
  noMethod: 'no-method',
  lineTooLong: 'line-too-long',
  failed: 'failed',
} as const;

/** A request the server answered with an error, or a transport failure on the client side. */
export class AdminError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/** A method implementation: takes the request's params, returns the JSON-able result. */
export type AdminHandler = (params: unknown) => Promise<unknown>;
export type AdminHandlers = Record<string, AdminHandler>;

/**
 * Splits a byte stream into lines without joining every chunk: bytes before
 * the first newline wait in `pending` until the line is complete.
 */
export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly maxLine: number;

  constructor(maxLine: number) {
    this.maxLine = maxLine;
  }

  /** Feeds a chunk; returns the complete lines in it, or null once a line exceeds the bound. */
  push(chunk: Buffer): string[] | null {
    const lines: string[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl === -1) break;
      const part = chunk.subarray(start, nl);
      if (this.pendingBytes + part.length > this.maxLine) return null;
      if (this.pendingBytes === 0) lines.push(part.toString('utf8'));
      else {
        this.pending.push(part);
        lines.push(Buffer.concat(this.pending, this.pendingBytes + part.length).toString('utf8'));
        this.pending = [];
        this.pendingBytes = 0;
      }
      start = nl + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      if (this.pendingBytes + rest.length > this.maxLine) return null;
      this.pending.push(rest);
      this.pendingBytes += rest.length;
    }
    return lines;
  }

  /** Bytes of an unfinished line. */
  get buffered(): number {
    return this.pendingBytes;
  }
}

/** Reads the error body of any thrown value: its `code` if it has a string one. */
export function errorBody(err: unknown): AdminErrorBody {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return { code: typeof code === 'string' && code !== '' ? code : ADMIN_ERROR.failed, message: err.message };
  }
  return { code: ADMIN_ERROR.failed, message: String(err) };
}
