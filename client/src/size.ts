// Sizes as the server counts them.

/** The UTF-8 length of a string, in bytes (what the server's size limit counts). */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4; // a surrogate pair: one code point beyond the BMP
      i++;
    } else n += 3; // the rest of the BMP (a lone surrogate becomes U+FFFD, also 3 bytes)
  }
  return n;
}
