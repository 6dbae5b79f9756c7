/**
 * The one CSV writer (RFC 4180): a field is quoted when it holds `"`, `,`, `\n` or `\r` or begins or
 * ends with white space, its quotes doubled; objects are written as JSON, null and undefined as empty.
 */
export function csvField(v: unknown): string {
  const s = v === null || v === undefined ? '' : typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v);
  return /[",\r\n]/.test(s) || /^\s|\s$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** One CSV record, with its line end. */
export function csvLine(fields: unknown[]): string {
  return `${fields.map(csvField).join(',')}\n`;
}
