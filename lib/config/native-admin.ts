// The native format's `admin` statements: where the stats page, /stats.json
// and /metrics are served, and the optional TCP admin listener (the admin
// socket's protocol over TCP, for tcpvsadm from another host), with tokens.
//
//   admin http HOST:PORT [token SECRET]     (global; port 0: any free port)
//   admin tcp HOST:PORT token SECRET [allow-load]  (global; the token is required)
import type { Endpoint, ServiceSpec } from './model.ts';
import { formatEndpoint, parseEndpoint, type Token } from './tokenize.ts';

import type { ProblemSink } from './errors.ts';

export interface AdminHttpSpec {
  host: string;
  port: number;
  token: string | null;
}

const USAGE = 'usage: admin http HOST:PORT [token SECRET]';
const USAGE_ANY = `${USAGE} | admin tcp HOST:PORT token SECRET [allow-load]`;

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}

export class AdminDraft {
  private readonly problem: ProblemSink;
  private readonly warn: ProblemSink;
  private spec: AdminHttpSpec | null = null;
  private specLine = 0;
  tcp: { host: string; port: number; token: string; allowLoad: boolean } | null = null;
  private tcpLine = 0;

  constructor(problem: ProblemSink, warn: ProblemSink) {
    this.problem = problem;
    this.warn = warn;
  }

  /** `admin http HOST:PORT [token SECRET]` */
  statement(line: number, tokens: Token[]): void {
    const what = tokens[1]?.text;
    if (what === 'tcp' && !tokens[1].quoted) return this.tcpStatement(line, tokens);
    if (what !== 'http' || tokens[1].quoted) return this.problem(line, 'admin', USAGE_ANY);
    if (this.specLine !== 0) return this.problem(line, 'admin.http', `'admin http' is already set at line ${this.specLine}`);
    this.specLine = line;
    if (tokens.length !== 3 && tokens.length !== 5) return this.problem(line, 'admin.http', USAGE);
    const ep = parseEndpoint(tokens[2].text, true);
    if (!ep.ok) return this.problem(line, 'admin.http', ep.message);
    let token: string | null = null;
    if (tokens.length === 5) {
      if (tokens[3].text !== 'token' || tokens[3].quoted)
        return this.problem(line, `admin.http.${tokens[3].text}`, `unexpected '${tokens[3].text}': ${USAGE}`);
      token = tokens[4].text;
      if (token === '') return this.problem(line, 'admin.http.token', 'the token is empty');
      if (/[\s\x00-\x1f\x7f]/.test(token))
        return this.problem(line, 'admin.http.token', 'the token may not contain spaces or control characters');
      if (token.length < 16) this.warn(line, 'admin.http.token', 'a token shorter than 16 characters is easy to guess');
    } else if (!isLoopback(ep.value.host)) {
      this.warn(line, 'admin.http', `no token on ${formatEndpoint(ep.value)}: anyone who can reach it can read the stats`);
    }
    this.spec = { host: ep.value.host, port: ep.value.port, token };
  }

  /**
   * `admin tcp HOST:PORT token SECRET [allow-load]`: a token is required,
   * anyone on the network could reach it; loading a config file over it
   * (tcpvsadm -f) is off unless asked for.
   */
  private tcpStatement(line: number, tokens: Token[]): void {
    if (this.tcpLine !== 0) return this.problem(line, 'admin.tcp', `'admin tcp' is already set at line ${this.tcpLine}`);
    this.tcpLine = line;
    const allowLoad = tokens.length === 6 && tokens[5].text === 'allow-load';
    if ((tokens.length !== 5 && !allowLoad) || tokens[3].text !== 'token')
      return this.problem(line, 'admin.tcp', 'usage: admin tcp HOST:PORT token SECRET [allow-load]');
    const ep = parseEndpoint(tokens[2].text, true);
    if (!ep.ok) return this.problem(line, 'admin.tcp', ep.message);
    const token = tokens[4].text;
    if (token === '' || /[\s\x00-\x1f\x7f]/.test(token))
      return this.problem(line, 'admin.tcp.token', 'the token must be non-empty, without spaces or control characters');
    if (token.length < 16) this.warn(line, 'admin.tcp.token', 'a token shorter than 16 characters is easy to guess');
    this.tcp = { host: ep.value.host, port: ep.value.port, token, allowLoad };
  }

  /** Checks the address against the services' and returns the spec (null when there is none). */
  finish(services: readonly ServiceSpec[]): AdminHttpSpec | null {
    const spec = this.spec;
    if (spec === null) return null;
    if (spec.port !== 0) {
      for (const s of services) {
        if (!overlaps(spec, s.listen)) continue;
        this.problem(
          this.specLine,
          'admin.http',
          `${formatEndpoint(spec)} overlaps the listen address ${formatEndpoint(s.listen)} of service '${s.name}' (line ${s.line})`,
        );
        break;
      }
    }
    return spec;
  }
}

function overlaps(a: Endpoint, b: Endpoint): boolean {
  return a.port === b.port && (a.host === b.host || isWildcard(a.host) || isWildcard(b.host));
}
