// A `mode tls-passthrough` service's rule table: the ClientHello's server
// name to a group. Exact names are one map lookup; `sni *.example.com`
// matches exactly one label more (a.example.com, not a.b.example.com, nor
// example.com), looked up by the name's parent. The first rule written wins
// among the exact names, then among the wildcards; an exact name beats a
// wildcard whatever their order, as a certificate's names do.
import type { RuleSpec } from '../config/model.ts';

export interface SniRoute {
  rule: string; // the rule's name, 'default' for the default group
  group: string;
}

export class SniRouter {
  private readonly exact = new Map<string, SniRoute>();
  private readonly wildcard = new Map<string, SniRoute>(); // by the parent name, "example.com"
  private readonly fallback: SniRoute | null;

  constructor(rules: readonly RuleSpec[], defaultGroup: string | null) {
    for (const rule of rules) {
      const route: SniRoute = { rule: rule.name, group: rule.group };
      for (const m of rule.matchers) {
        if (m.kind !== 'sni') continue;
        // m.value is lower-case; a wildcard's is ".example.com".
        const table = m.wildcard ? this.wildcard : this.exact;
        const key = m.wildcard ? m.value.slice(1) : m.value;
        if (!table.has(key)) table.set(key, route);
      }
    }
    this.fallback = defaultGroup === null ? null : { rule: 'default', group: defaultGroup };
  }

  /** The route for a server name (null: the client sent none); null when nothing matches and there is no default. */
  route(sni: string | null): SniRoute | null {
    if (sni === null) return this.fallback;
    const name = sni.toLowerCase();
    const exact = this.exact.get(name);
    if (exact !== undefined) return exact;
    const dot = name.indexOf('.');
    if (dot > 0) {
      const wild = this.wildcard.get(name.slice(dot + 1));
      if (wild !== undefined) return wild;
    }
    return this.fallback;
  }
}
