/**
 * `s` with its control characters (C0, DEL, C1, and the Unicode line and paragraph separators) written
 * as `\xNN` / `\uNNNN` escapes: a file name from a manifest or a shard's rows, printed to a terminal,
 * cannot move the cursor, change colours, ring the bell or fake a line of output.
 */
export function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    const n = c.charCodeAt(0);
    return n < 0x100 ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16)}`;
  });
}
