// Turns a group's `key` setting into a function that reads that key off a
// request. Compiled once per group; per request it reads only what the key
// needs (a path split, one header, one cookie).
import type { HashKey } from '../config/model.ts';
import type { RequestView } from './request-view.ts';

export type KeyReader = (req: RequestView, submatch: string | undefined) => string | undefined;

export function compileKey(key: HashKey | undefined, hashSubmatch: number | undefined): KeyReader {
  if (key === undefined) return hashSubmatch !== undefined ? fromSubmatch : fromPath;
  switch (key.kind) {
    case 'path':
      return fromPath;
    case 'path-query':
      return (req) => req.target();
    case 'host':
      return (req) => req.host() ?? undefined;
    case 'client':
      return (req) => req.clientAddress;
    case 'header': {
      const name = key.name.toLowerCase();
      return (req) => req.header(name);
    }
    case 'cookie': {
      const name = key.name;
      return (req) => req.cookie(name);
    }
    case 'submatch':
      return fromSubmatch;
  }
}

function fromPath(req: RequestView): string {
  return req.path();
}

function fromSubmatch(_req: RequestView, submatch: string | undefined): string | undefined {
  return submatch;
}
