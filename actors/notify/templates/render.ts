/**
 * A small, safe template language: a subset of Mustache, compiled once, with no code execution.
 *
 *   {{alert.rule.name}}      a value, escaped for the channel (Slack: & < >)
 *   {{{alert.summary}}}      a value, unescaped ({{& path}} too)
 *   {{#alert.device}}…{{/alert.device}}   shown when the value is truthy; for an object its
 *                            fields are in scope, for a list the block repeats per item
 *   {{^alert.device}}…{{/alert.device}}   shown when the value is falsy or empty
 *   {{.}}                    the current item inside a list section
 *   {{! a comment }}
 *
 * Names are dotted paths over the context's own properties only (no prototype, no functions
 * called). A path whose first name is found nowhere in scope is an error (catches typos such as
 * {{alrt.severity}}); a missing field further down renders as empty. Objects render as JSON.
 * Limits: template 16 KiB, nesting 8, output 64 KiB.
 */

export class TemplateError extends Error {
  constructor(
    message: string,
    readonly position?: number,
  ) {
    super(position === undefined ? message : `${message} (at character ${position + 1})`);
    this.name = 'TemplateError';
  }
}

export const MAX_TEMPLATE_CHARS = 16 * 1024;
export const MAX_OUTPUT_CHARS = 64 * 1024;
const MAX_DEPTH = 8;

type Node =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'var'; readonly path: readonly string[]; readonly raw: boolean }
  | {
      readonly kind: 'section';
      readonly path: readonly string[];
      readonly inverted: boolean;
      readonly children: readonly Node[];
    };

export interface CompiledTemplate {
  /** Throws TemplateError on an unknown name or an oversized result. */
  render(context: Readonly<Record<string, unknown>>, escapeText?: (text: string) => string): string;
}

const SEGMENT = /^(?:[A-Za-z_$][\w$-]*|\d+)$/;

function parsePath(text: string, position: number): string[] {
  const name = text.trim();
  if (name === '.') return [];
  const parts = name.split('.');
  if (name === '' || !parts.every((p) => SEGMENT.test(p))) {
    throw new TemplateError(`invalid name '${name}'`, position);
  }
  return parts;
}

function parse(source: string): Node[] {
  if (source.length > MAX_TEMPLATE_CHARS) {
    throw new TemplateError(`template longer than ${MAX_TEMPLATE_CHARS} characters`);
  }
  const root: Node[] = [];
  const stack: { name: string; path: string[]; inverted: boolean; children: Node[]; at: number }[] =
    [];
  let current = root;
  let i = 0;
  while (i < source.length) {
    const open = source.indexOf('{{', i);
    if (open < 0) {
      current.push({ kind: 'text', text: source.slice(i) });
      break;
    }
    if (open > i) current.push({ kind: 'text', text: source.slice(i, open) });
    const triple = source.startsWith('{{{', open);
    const close = source.indexOf(triple ? '}}}' : '}}', open + (triple ? 3 : 2));
    if (close < 0) throw new TemplateError(`unclosed '${triple ? '{{{' : '{{'}'`, open);
    const inner = source.slice(open + (triple ? 3 : 2), close);
    i = close + (triple ? 3 : 2);
    if (triple) {
      current.push({ kind: 'var', path: parsePath(inner, open), raw: true });
      continue;
    }
    const sigil = inner.trimStart()[0];
    const rest = inner.trimStart().slice(1);
    switch (sigil) {
      case '!':
        break;
      case '&':
        current.push({ kind: 'var', path: parsePath(rest, open), raw: true });
        break;
      case '#':
      case '^': {
        if (stack.length >= MAX_DEPTH) {
          throw new TemplateError(`sections nested deeper than ${MAX_DEPTH}`, open);
        }
        const children: Node[] = [];
        stack.push({
          name: rest.trim(),
          path: parsePath(rest, open),
          inverted: sigil === '^',
          children,
          at: open,
        });
        current = children;
        break;
      }
      case '/': {
        const top = stack.pop();
        if (top === undefined)
          throw new TemplateError(`'{{/${rest.trim()}}}' closes nothing`, open);
        if (top.name !== rest.trim()) {
          throw new TemplateError(
            `'{{/${rest.trim()}}}' does not close '{{${top.inverted ? '^' : '#'}${top.name}}}'`,
            open,
          );
        }
        current = stack.length === 0 ? root : stack[stack.length - 1]!.children;
        current.push({
          kind: 'section',
          path: top.path,
          inverted: top.inverted,
          children: top.children,
        });
        break;
      }
      case '=':
      case '>':
      case '<':
        throw new TemplateError(`'{{${sigil}' (delimiters, partials) is not supported`, open);
      default:
        current.push({ kind: 'var', path: parsePath(inner, open), raw: false });
    }
  }
  const unclosed = stack.pop();
  if (unclosed !== undefined) {
    throw new TemplateError(`section '${unclosed.name}' is never closed`, unclosed.at);
  }
  return root;
}

const own = (value: unknown, key: string): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && Object.hasOwn(value, key);

/** Looks a path up through the scope stack (innermost first). */
function lookup(scopes: readonly unknown[], path: readonly string[]): unknown {
  if (path.length === 0) return scopes[scopes.length - 1];
  const [first, ...rest] = path as [string, ...string[]];
  let found = false;
  let value: unknown;
  for (let s = scopes.length - 1; s >= 0; s--) {
    const scope = scopes[s];
    if (own(scope, first)) {
      value = scope[first];
      found = true;
      break;
    }
  }
  if (!found) throw new TemplateError(`unknown name '${first}'`);
  for (const key of rest) {
    if (!own(value, key)) return undefined;
    value = value[key];
  }
  return value;
}

function toText(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    return String(value);
  }
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'function' || typeof value === 'symbol') return '';
  return JSON.stringify(value) ?? '';
}

function truthy(value: unknown): boolean {
  if (Array.isArray(value)) return value.length > 0;
  return value !== null && value !== undefined && value !== false && value !== '' && value !== 0;
}

class Compiled implements CompiledTemplate {
  constructor(private readonly nodes: readonly Node[]) {}

  render(
    context: Readonly<Record<string, unknown>>,
    escapeText?: (text: string) => string,
  ): string {
    const out: string[] = [];
    let size = 0;
    const emit = (text: string) => {
      size += text.length;
      if (size > MAX_OUTPUT_CHARS) {
        throw new TemplateError(`output longer than ${MAX_OUTPUT_CHARS} characters`);
      }
      out.push(text);
    };
    const walk = (nodes: readonly Node[], scopes: unknown[]) => {
      for (const node of nodes) {
        if (node.kind === 'text') {
          emit(node.text);
        } else if (node.kind === 'var') {
          const text = toText(lookup(scopes, node.path));
          emit(node.raw || escapeText === undefined ? text : escapeText(text));
        } else {
          const value = lookup(scopes, node.path);
          if (node.inverted) {
            if (!truthy(value)) walk(node.children, scopes);
          } else if (Array.isArray(value)) {
            for (const item of value) walk(node.children, [...scopes, item]);
          } else if (truthy(value)) {
            walk(node.children, typeof value === 'object' ? [...scopes, value] : scopes);
          }
        }
      }
    };
    walk(this.nodes, [context]);
    return out.join('');
  }
}

const cache = new Map<string, CompiledTemplate>();
const CACHE_LIMIT = 1000;

/** Parses a template (cached by its text); throws TemplateError on bad syntax. */
export function compileTemplate(source: string): CompiledTemplate {
  let compiled = cache.get(source);
  if (compiled === undefined) {
    compiled = new Compiled(parse(source));
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(source, compiled);
  }
  return compiled;
}

/** Syntax check for an editor or API: undefined when fine, else the error's message. */
export function templateSyntaxError(source: string): string | undefined {
  try {
    compileTemplate(source);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}
