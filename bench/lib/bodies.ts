// The response bodies the bare backend serves. Shared by the backend (which
// sends them) and the harness (which checks one response through every proxy
// byte for byte, so a proxy that truncates or mangles is never "fast").

export interface BodySize {
  label: string; // '100b' | '64k': also the request path, '/100b'
  bytes: number;
}

export const BODY_SIZES: readonly BodySize[] = [
  { label: '100b', bytes: 100 },
  { label: '64k', bytes: 65536 },
];

// Printable, position-dependent bytes: a shifted or truncated body differs.
export function makeBody(bytes: number): Buffer {
  const body = Buffer.allocUnsafe(bytes);
  for (let i = 0; i < bytes; i++) body[i] = 0x41 + (i % 26);
  return body;
}

export function bodyPath(size: BodySize): string {
  return '/' + size.label;
}
