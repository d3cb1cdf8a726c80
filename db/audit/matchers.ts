/**
 * Finding a person's identifiers in text, the same way in SQL (PostgreSQL ARE, to select and
 * rewrite rows in the database) and in JavaScript (to rewrite JSON values): case-insensitive,
 * whole identifiers only, so that erasing alice@example.com leaves malice@example.com alone.
 */

export interface PersonalTerms {
  /** E-mail addresses: not inside a longer address. */
  readonly emails?: readonly string[];
  /** Phone numbers: not inside a longer number. */
  readonly phones?: readonly string[];
  /** Names: whole words; names shorter than 4 characters are ignored (too many false hits). */
  readonly names?: readonly string[];
}

export interface PersonalMatcher {
  /** ARE for `~*` and regexp_replace(..., 'gi'); undefined when there is nothing to find. */
  readonly sql: string | undefined;
  /** Replaces every identifier in `text` by `replacement`. */
  replace(text: string, replacement: string): string;
  test(text: string): boolean;
}

/** For PostgreSQL: ASCII punctuation escaped (a backslash before a non-alphanumeric is literal). */
function literal(text: string): string {
  return text.replace(/[!-/:-@[-`{-~]/g, (c) => `\\${c}`);
}

/** For JavaScript with the u flag, which refuses escapes of non-syntax characters. */
function jsLiteral(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, (c) => `\\${c}`);
}

export function personalMatcher(terms: PersonalTerms): PersonalMatcher {
  const emails = unique(terms.emails).filter((e) => e.length >= 3);
  const phones = unique(terms.phones).filter((p) => p.replace(/\D/g, '').length >= 5);
  const names = unique(terms.names).filter((n) => n.length >= 4);
  const parts: Array<{ term: string; sql: string; js: string }> = [];
  for (const email of emails) {
    // Not preceded by a character of an address, not followed by one (a final '.' ends a sentence).
    parts.push({
      term: email,
      sql: `(?<![[:alnum:]._%+-])${literal(email)}(?![[:alnum:]_-]|\\.[[:alnum:]])`,
      js: `(?<![\\p{L}\\p{N}._%+-])${jsLiteral(email)}(?![\\p{L}\\p{N}_-]|\\.[\\p{L}\\p{N}])`,
    });
  }
  for (const phone of phones) {
    parts.push({
      term: phone,
      sql: `(?<![0-9])${literal(phone)}(?![0-9])`,
      js: `(?<![0-9])${jsLiteral(phone)}(?![0-9])`,
    });
  }
  for (const name of names) {
    parts.push({
      term: name,
      sql: `(?<![[:alnum:]_])${literal(name)}(?![[:alnum:]_])`,
      js: `(?<![\\p{L}\\p{N}_])${jsLiteral(name)}(?![\\p{L}\\p{N}_])`,
    });
  }
  // Longest first, so that 'Alice Liddell L.' is replaced whole rather than 'Alice Liddell' in it.
  parts.sort((a, b) => b.term.length - a.term.length);
  const sql = parts.map((p) => p.sql);
  const js = parts.map((p) => p.js);
  if (sql.length === 0) {
    return { sql: undefined, replace: (text) => text, test: () => false };
  }
  const pattern = new RegExp(js.join('|'), 'giu');
  return {
    sql: sql.join('|'),
    replace: (text, replacement) => text.replace(pattern, () => replacement),
    test: (text) => {
      pattern.lastIndex = 0;
      const found = pattern.test(text);
      pattern.lastIndex = 0;
      return found;
    },
  };
}

function unique(values: readonly string[] | undefined): string[] {
  return [...new Set((values ?? []).map((v) => v.trim()).filter((v) => v !== ''))];
}
