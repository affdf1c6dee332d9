// The rule table of one service. Rules are tried in order and the first whose
// matchers all hold wins; with none, the default group (or null: 404). For a
// rule whose group keys on a submatch (KTCPVS hhttp, `key submatch N`), the
// chosen submatch of the rule's keyed regex is the scheduler's key: a url-regex
// captures from the request target, a path-regex from the path (both
// normalised: request-view.ts).

import type { GroupSpec, RuleSpec } from '../config/model.ts';
import type { RequestView } from './request-view.ts';
import { compileAll, type RequestTest } from './matchers.ts';
import { keyedRegexIndex } from '../config/route-syntax.ts';

export interface RouteResult {
  rule: RuleSpec | null; // null: no rule matched, the default group applies
  group: string;
  key: string | undefined;
}

interface CompiledRule {
  rule: RuleSpec;
  test: RequestTest; // every matcher except the keyed regex
  keyRe: RegExp | null; // run with exec (not test) for the key, last
  keyOnPath: boolean; // keyRe is a path-regex: exec on the path, not the target
  keySubmatch: number;
}

export class Router {
  private readonly compiled: CompiledRule[];
  private readonly defaultGroup: string | null;
  // One result object, overwritten by every route() call: read it before the next.
  private readonly result: RouteResult = { rule: null, group: '', key: undefined };

  /**
   * `groups` tells which groups key on a submatch; without it no key is taken.
   */
  constructor(rules: readonly RuleSpec[], defaultGroup: string | null, groups: readonly GroupSpec[] = []) {
    const hashSubmatch = new Map<string, number>();
    for (const g of groups) if (g.hashSubmatch !== undefined) hashSubmatch.set(g.name, g.hashSubmatch);
    this.compiled = rules.map((rule) => {
      const submatch = hashSubmatch.get(rule.group);
      const keyed = submatch === undefined ? -1 : keyedRegexIndex(rule.matchers);
      const keyMatcher = keyed === -1 ? undefined : rule.matchers[keyed];
      if (keyMatcher === undefined || (keyMatcher.kind !== 'url-regex' && keyMatcher.kind !== 'path-regex')) {
        return { rule, test: compileAll(rule.matchers), keyRe: null, keyOnPath: false, keySubmatch: 0 };
      }
      return {
        rule,
        test: compileAll(rule.matchers.filter((_, i) => i !== keyed)),
        keyRe: keyMatcher.re,
        keyOnPath: keyMatcher.kind === 'path-regex',
        keySubmatch: submatch as number,
      };
    });
    this.defaultGroup = defaultGroup;
  }

  /** The route for this request, or null (404). The object is reused per call. */
  route(req: RequestView): RouteResult | null {
    const compiled = this.compiled;
    for (let i = 0; i < compiled.length; i++) {
      const c = compiled[i];
      if (!c.test(req)) continue;
      if (c.keyRe === null) return this.hit(c.rule, c.rule.group, undefined);
      const m = c.keyRe.exec(c.keyOnPath ? req.path() : req.target());
      if (m === null) continue;
      // A submatch that took no part in the match is undefined: no key.
      return this.hit(c.rule, c.rule.group, m[c.keySubmatch]);
    }
    return this.defaultGroup === null ? null : this.hit(null, this.defaultGroup, undefined);
  }

  private hit(rule: RuleSpec | null, group: string, key: string | undefined): RouteResult {
    const r = this.result;
    r.rule = rule;
    r.group = group;
    r.key = key;
    return r;
  }
}
