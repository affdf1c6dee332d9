// Each matcher of the compiled config becomes one predicate over a
// RequestView, built once at load. Predicates read only what they need (a
// path rule never splits the Cookie header) and allocate nothing themselves.

import type { Matcher, MatchOp } from '../config/model.ts';
import type { RequestView } from './request-view.ts';

export type RequestTest = (req: RequestView) => boolean;

export function compileMatcher(m: Matcher): RequestTest {
  switch (m.kind) {
    case 'path': {
      const value = m.value;
      return (req) => req.path() === value;
    }
    case 'prefix': {
      const value = m.value;
      return (req) => req.path().startsWith(value);
    }
    case 'path-regex': {
      const re = m.re;
      return (req) => re.test(req.path());
    }
    case 'url-regex': {
      const re = m.re;
      return (req) => re.test(req.target());
    }
    case 'host': {
      const value = m.value;
      if (!m.wildcard) return (req) => req.host() === value;
      // value is ".example.com": a.example.com matches, example.com does not.
      return (req) => {
        const host = req.host();
        return host !== null && host.length > value.length && host.endsWith(value);
      };
    }
    case 'sni': {
      // On a TLS-terminating service: the name of the handshake (a passthrough
      // service routes by sni-router.ts instead). A wildcard's value is
      // ".example.com" and covers exactly one label more, as a certificate's.
      const value = m.value;
      if (!m.wildcard) return (req) => req.sni === value;
      return (req) => {
        const name = req.sni;
        return name.length > value.length && name.endsWith(value) && name.indexOf('.') === name.length - value.length;
      };
    }
    case 'method': {
      const values = m.values;
      if (values.length === 1) {
        const only = values[0];
        return (req) => req.method === only;
      }
      return (req) => values.includes(req.method);
    }
    case 'header': {
      const name = m.name;
      return valueTest(m, (req) => req.header(name));
    }
    case 'cookie': {
      const name = m.name;
      return valueTest(m, (req) => req.cookie(name));
    }
    case 'query': {
      const name = m.name;
      return valueTest(m, (req) => req.query(name));
    }
  }
}

function valueTest(op: MatchOp, read: (req: RequestView) => string | undefined): RequestTest {
  switch (op.op) {
    case 'present':
      return (req) => read(req) !== undefined;
    case 'equals': {
      const value = op.value;
      return (req) => read(req) === value;
    }
    case 'regex': {
      const re = op.re;
      return (req) => {
        const v = read(req);
        return v !== undefined && re.test(v);
      };
    }
  }
}

// Cheap tests first so a rule fails fast: a string compare before a regex,
// a header scan before a cookie split.
const COST: Record<Matcher['kind'], number> = {
  method: 0,
  path: 1,
  prefix: 1,
  host: 2,
  sni: 2,
  header: 3,
  query: 4,
  cookie: 4,
  'path-regex': 5,
  'url-regex': 5,
};

/** One predicate that holds when every matcher holds (true for none). */
export function compileAll(matchers: readonly Matcher[]): RequestTest {
  const tests = [...matchers].sort((a, b) => COST[a.kind] - COST[b.kind]).map(compileMatcher);
  switch (tests.length) {
    case 0:
      return () => true;
    case 1:
      return tests[0];
    case 2: {
      const [a, b] = tests;
      return (req) => a(req) && b(req);
    }
    default:
      return (req) => {
        for (let i = 0; i < tests.length; i++) if (!tests[i](req)) return false;
        return true;
      };
  }
}
