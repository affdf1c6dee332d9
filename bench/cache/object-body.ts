// The body of an object, derived from its path alone: the origin produces it,
// the caches pass it on, and the harness can check any response byte for byte
// without asking anyone.

export function objectBody(path: string, bytes: number): Buffer {
  const body = Buffer.allocUnsafe(bytes);
  const pattern = Buffer.from(path + '|', 'latin1');
  for (let i = 0; i < bytes; i++) body[i] = pattern[i % pattern.length];
  return body;
}
