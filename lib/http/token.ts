// Byte classes of the HTTP grammar (RFC 9110 §5.6), as lookup tables so the
// framing checks are one array read per byte: no regex on the hot path.

/** tchar (RFC 9110 §5.6.2): the bytes of a token. */
export const TCHAR = new Uint8Array(256);
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1; // DIGIT
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1; // ALPHA
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;
for (const ch of "!#$%&'*+-.^_`|~") TCHAR[ch.charCodeAt(0)] = 1;

/** qdtext (RFC 9110 §5.6.4): HTAB, SP, %x21, %x23-5B, %x5D-7E, obs-text. */
export const QDTEXT = new Uint8Array(256);
QDTEXT[0x09] = 1;
QDTEXT[0x20] = 1;
QDTEXT[0x21] = 1;
for (let c = 0x23; c <= 0x5b; c++) QDTEXT[c] = 1;
for (let c = 0x5d; c <= 0x7e; c++) QDTEXT[c] = 1;
for (let c = 0x80; c <= 0xff; c++) QDTEXT[c] = 1;

/** What may follow a backslash in a quoted-string: HTAB, SP, VCHAR, obs-text. */
export const QUOTED_PAIR = new Uint8Array(256);
QUOTED_PAIR[0x09] = 1;
for (let c = 0x20; c <= 0x7e; c++) QUOTED_PAIR[c] = 1;
for (let c = 0x80; c <= 0xff; c++) QUOTED_PAIR[c] = 1;

/** OWS / BWS: SP and HTAB only (RFC 9110 §5.6.3). Nothing else is whitespace in HTTP. */
export function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}
