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

/**
 * The one short display name of a layer (captions, tables, the app): the node or tensor name without
 * the leading '/', an `_output_N` suffix, the trailing op segment (`Relu`, `Conv_3`) and path parts that
 * only prefix the next one (layer4/layer4.0 → layer4.0); its last two parts.
 * '/layer3/layer3.0/relu2/Relu_output_0' → 'layer3.0/relu2'.
 */
export function shortLayerName(name: string): string {
  let parts = name.replace(/_output_\d+$/, '').replace(/^\//, '').split('/').filter(Boolean);
  if (parts.length > 1 && /^[A-Z][A-Za-z]*(_\d+)?$/.test(parts[parts.length - 1]!)) parts.pop();
  parts = parts.filter((p, i) => i === parts.length - 1 || !parts[i + 1]!.startsWith(p));
  return parts.slice(-2).join('/') || name;
}
