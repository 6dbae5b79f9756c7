/**
 * Glob patterns (for quoted patterns that the shell did not expand), browser-safe: `*` (within a path
 * segment), `?`, `[abc]` / `[a-z]` / `[!abc]`, `{a,b}` and `**` (any number of folders).
 */

export function hasGlobMagic(s: string): boolean {
  return /[*?[{]/.test(s);
}

/**
 * Splits a '/'-separated pattern into its fixed leading folders and the rest:
 * 'data/train/**\/*.png' → { base: 'data/train', rest: '**\/*.png' }.
 */
export function splitGlob(pattern: string): { base: string; rest: string } {
  const parts = pattern.split('/');
  let i = 0;
  while (i < parts.length - 1 && !hasGlobMagic(parts[i]!)) i++;
  const base = parts.slice(0, i).join('/');
  return { base: base === '' && pattern.startsWith('/') ? '/' : base, rest: parts.slice(i).join('/') };
}

/** A RegExp matching '/'-separated relative paths against `pattern` (which has no leading base). */
export function globToRegExp(pattern: string): RegExp {
  let re = '';
  let i = 0;
  let braces = 0;
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        const atStart = i === 0 || pattern[i - 1] === '/';
        const atEnd = i + 2 === pattern.length || pattern[i + 2] === '/';
        if (atStart && atEnd) {
          if (pattern[i + 2] === '/') {
            re += '(?:[^/]*/)*'; // '**/': zero or more folders
            i += 3;
          } else {
            re += '.*';
            i += 2;
          }
          continue;
        }
      }
      re += '[^/]*';
      i++;
    } else if (c === '?') {
      re += '[^/]';
      i++;
    } else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) {
        re += '\\[';
        i++;
        continue;
      }
      let body = pattern.slice(i + 1, end);
      const negate = body.startsWith('!') || body.startsWith('^');
      if (negate) body = body.slice(1);
      body = body.replace(/[\\\]^]/g, (m) => `\\${m}`);
      re += negate ? `[^/${body}]` : `[${body}]`;
      i = end + 1;
    } else if (c === '{') {
      braces++;
      re += '(?:';
      i++;
    } else if (c === '}' && braces > 0) {
      braces--;
      re += ')';
      i++;
    } else if (c === ',' && braces > 0) {
      re += '|';
      i++;
    } else {
      re += c.replace(/[.+^${}()|\\]/g, (m) => `\\${m}`);
      i++;
    }
  }
  if (braces > 0) throw new Error(`unbalanced '{' in glob pattern '${pattern}'`);
  return new RegExp(`^${re}$`);
}
