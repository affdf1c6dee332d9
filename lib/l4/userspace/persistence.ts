// Persistence templates, as IPVS keeps them (ip_vs_sched_persist): a client
// address masked by the service's netmask pins a real server. A template lives
// while connections it scheduled are open, and for the persistence timeout
// after the last of them ends (or after it was made, if no connection uses
// it). Templates are bounded by an LRU so a flood of client addresses cannot
// grow memory without limit; an evicted template only costs its clients their
// pin.

import net from 'node:net';
import { LRUCache } from 'lru-cache';
import { L4Error } from '../model.ts';

export const DEFAULT_MAX_TEMPLATES = 65536;

/** A parsed -M netmask: an IPv4 mask as a 32-bit number, or an IPv6 prefix length. */
export type MaskSpec = { family: 4; mask: number } | { family: 6; prefixLength: number };

/** Parses ipvsadm's -M: a dotted mask for IPv4 services, a prefix length for IPv6 ones. */
export function parseNetmask(netmask: string, family: 4 | 6): MaskSpec {
  if (family === 4) {
    const mask = parseIPv4(netmask);
    if (mask === -1) throw new L4Error('invalid', `Illegal netmask "${netmask}": an IPv4 service takes a dotted mask`);
    return { family: 4, mask };
  }
  if (!/^\d{1,3}$/.test(netmask) || Number(netmask) < 1 || Number(netmask) > 128) {
    throw new L4Error('invalid', `Illegal netmask "${netmask}": an IPv6 service takes a prefix length 1-128`);
  }
  return { family: 6, prefixLength: Number(netmask) };
}

/** The client address with the host bits cleared, in canonical text form. */
export function maskAddress(address: string, spec: MaskSpec): string {
  if (spec.family === 4) {
    // A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d.
    const plain = address.startsWith('::ffff:') ? address.slice(7) : address;
    const value = parseIPv4(plain);
    if (value === -1) return address;
    return formatIPv4((value & spec.mask) >>> 0);
  }
  const groups = parseIPv6(address);
  if (groups === null) return address;
  let bits = spec.prefixLength;
  for (let i = 0; i < 8; i++) {
    if (bits >= 16) bits -= 16;
    else {
      groups[i] &= (0xffff << (16 - bits)) & 0xffff;
      bits = 0;
    }
  }
  return formatIPv6(groups);
}

/** An IPv4 address as an unsigned 32-bit number, -1 if it is not one. */
function parseIPv4(text: string): number {
  if (net.isIPv4(text) === false) return -1;
  const parts = text.split('.');
  return ((Number(parts[0]) << 24) | (Number(parts[1]) << 16) | (Number(parts[2]) << 8) | Number(parts[3])) >>> 0;
}

function formatIPv4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

/** The eight 16-bit groups of an IPv6 address (zone id ignored), null if it is not one. */
export function parseIPv6(text: string): Uint16Array | null {
  const zone = text.indexOf('%');
  const address = zone === -1 ? text : text.slice(0, zone);
  if (!net.isIPv6(address)) return null;
  const groups = new Uint16Array(8);
  const halves = address.split('::');
  const head = halves[0] === '' ? [] : halves[0].split(':');
  const tail = halves.length > 1 && halves[1] !== '' ? halves[1].split(':') : [];
  const expand = (parts: string[]): number[] => {
    const out: number[] = [];
    for (const part of parts) {
      if (part.includes('.')) {
        const v4 = parseIPv4(part);
        out.push(v4 >>> 16, v4 & 0xffff);
      } else out.push(parseInt(part, 16));
    }
    return out;
  };
  const front = expand(head);
  const back = expand(tail);
  for (let i = 0; i < front.length; i++) groups[i] = front[i];
  for (let i = 0; i < back.length; i++) groups[8 - back.length + i] = back[i];
  return groups;
}

/** RFC 5952 text: lower-case hex, the longest run of two or more zero groups as "::". */
export function formatIPv6(groups: Uint16Array): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let end = i;
    while (end < 8 && groups[end] === 0) end++;
    if (end - i > bestLength) {
      bestStart = i;
      bestLength = end - i;
    }
    i = end;
  }
  const hex = (from: number, to: number): string => Array.from(groups.subarray(from, to), (g) => g.toString(16)).join(':');
  if (bestStart === -1) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLength, 8)}`;
}

/** What a template pins: the real server keeps a count of its templates (ipvsadm's PersistConn). */
export interface TemplateTarget {
  persistentConns: number;
}

export interface PersistenceTemplate<Target extends TemplateTarget> {
  readonly serviceId: string;
  readonly maskedAddress: string;
  readonly target: Target;
  controlled: number; // open connections scheduled through this template
  timeoutMs: number;
  expiresAtMs: number; // meaningful only while controlled is 0
}

export class TemplateTable<Target extends TemplateTarget> {
  private readonly templates: LRUCache<string, PersistenceTemplate<Target>>;
  /** Told of every template this table makes or refreshes for its own traffic (the sync to a backup director). */
  onTouched: ((template: PersistenceTemplate<Target>) => void) | null = null;

  constructor(maxTemplates = DEFAULT_MAX_TEMPLATES) {
    this.templates = new LRUCache<string, PersistenceTemplate<Target>>({
      max: maxTemplates,
      dispose: (template) => {
        template.target.persistentConns--;
      },
    });
  }

  get size(): number {
    return this.templates.size;
  }

  /** The live template for this masked client address, or undefined (an expired one is dropped). */
  find(serviceId: string, maskedAddress: string, nowMs: number): PersistenceTemplate<Target> | undefined {
    const key = templateKey(serviceId, maskedAddress);
    const template = this.templates.get(key);
    if (template === undefined) return undefined;
    if (template.controlled === 0 && nowMs >= template.expiresAtMs) {
      this.templates.delete(key);
      return undefined;
    }
    return template;
  }

  create(serviceId: string, maskedAddress: string, target: Target, timeoutMs: number, nowMs: number): PersistenceTemplate<Target> {
    const template: PersistenceTemplate<Target> = {
      serviceId,
      maskedAddress,
      target,
      controlled: 0,
      timeoutMs,
      expiresAtMs: nowMs + timeoutMs,
    };
    const key = templateKey(serviceId, maskedAddress);
    this.templates.delete(key);
    this.templates.set(key, template);
    target.persistentConns++;
    this.onTouched?.(template);
    return template;
  }

  /**
   * A template another director made (state sync): it pins the client here
   * too, for the time it has left, unless this table has a live one in use.
   */
  adopt(serviceId: string, maskedAddress: string, target: Target, timeoutMs: number, expiresInMs: number, nowMs: number): void {
    const key = templateKey(serviceId, maskedAddress);
    const current = this.templates.peek(key);
    if (current !== undefined && current.controlled > 0) return;
    if (current !== undefined) this.templates.delete(key);
    this.templates.set(key, { serviceId, maskedAddress, target, controlled: 0, timeoutMs, expiresAtMs: nowMs + expiresInMs });
    target.persistentConns++;
  }

  /** A connection was scheduled through the template; the service's current timeout applies from now. */
  attach(template: PersistenceTemplate<Target>, timeoutMs: number, nowMs: number): void {
    template.controlled++;
    template.timeoutMs = timeoutMs;
    template.expiresAtMs = nowMs + timeoutMs;
    this.onTouched?.(template);
  }

  /** A connection scheduled through the template ended: the timeout restarts once none is left. */
  release(template: PersistenceTemplate<Target>, nowMs: number): void {
    if (template.controlled > 0) template.controlled--;
    if (template.controlled === 0) {
      template.expiresAtMs = nowMs + template.timeoutMs;
      this.onTouched?.(template);
    }
  }

  drop(template: PersistenceTemplate<Target>): void {
    const key = templateKey(template.serviceId, template.maskedAddress);
    if (this.templates.peek(key) === template) this.templates.delete(key);
  }

  dropWhere(predicate: (template: PersistenceTemplate<Target>) => boolean): void {
    // Collected first: deleting while the LRU is being walked would skip entries.
    const doomed: string[] = [];
    for (const [key, template] of this.templates.entries()) {
      if (predicate(template)) doomed.push(key);
    }
    for (const key of doomed) this.templates.delete(key);
  }

  /** Drops expired templates; the estimator's tick calls it so idle ones do not linger in listings. */
  sweep(nowMs: number): void {
    this.dropWhere((template) => template.controlled === 0 && nowMs >= template.expiresAtMs);
  }

  /** Live templates with the seconds each has left (a template in use shows its full timeout). */
  *live(nowMs: number): Generator<[PersistenceTemplate<Target>, number]> {
    for (const template of this.templates.values()) {
      if (template.controlled > 0) yield [template, template.timeoutMs / 1000];
      else if (nowMs < template.expiresAtMs) yield [template, (template.expiresAtMs - nowMs) / 1000];
    }
  }

  clear(): void {
    this.templates.clear();
  }
}

function templateKey(serviceId: string, maskedAddress: string): string {
  return `${serviceId} ${maskedAddress}`;
}
