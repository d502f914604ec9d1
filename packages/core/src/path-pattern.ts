/**
 * Path patterns for routing WebSocket upgrades outside a framework router (and inside one that only
 * offers exact strings, like Nest gateways): `/rooms/:room` (one segment, decoded), a final `*` or `*name`
 * (the rest of the path, possibly empty) and a middle `*` (any one segment, not captured).
 *
 * A pattern is compiled once into a list of segment tests and matched by walking the path a single
 * time, segment by segment, so matching is linear in the path length whatever the input: no regular
 * expression, hence no backtracking.
 */

export interface PathPatternOptions {
  /** Literal segments compare case-sensitively. Default true. */
  caseSensitive?: boolean;
  /** `/a/` and `/a` are different paths. Default false: one trailing slash is ignored on both sides. */
  strictTrailingSlash?: boolean;
}

/** Matched parameters, percent-decoded. A null-prototype object, so any name is a safe key. */
export type PathParams = Record<string, string>;

type Segment =
  | { kind: 'literal'; value: string }
  | { kind: 'param'; name: string }
  | { kind: 'any' }
  | { kind: 'rest'; name: string };

const NAME = /^[A-Za-z_$][\w$]*$/;

export class PathPattern {
  readonly source: string;
  /** Names of the captured parameters, in order (a trailing `*` is captured as `*`). */
  readonly keys: readonly string[];
  /** True when the pattern has no parameter and no wildcard. */
  readonly isStatic: boolean;
  readonly #segments: Segment[];
  readonly #caseSensitive: boolean;
  readonly #strict: boolean;

  constructor(pattern: string, options: PathPatternOptions = {}) {
    if (typeof pattern !== 'string' || (pattern !== '' && pattern[0] !== '/')) {
      throw new TypeError(`Invalid path pattern ${JSON.stringify(pattern)}: it must start with "/"`);
    }
    this.source = pattern;
    this.#caseSensitive = options.caseSensitive ?? true;
    this.#strict = options.strictTrailingSlash ?? false;
    const body = this.#strict ? pattern || '/' : trimTrailingSlash(pattern);
    const parts = body === '' ? [] : body.slice(1).split('/');
    const keys: string[] = [];
    this.#segments = parts.map((part, index) => {
      const last = index === parts.length - 1;
      if (part.startsWith(':')) {
        return { kind: 'param', name: this.#key(part.slice(1), keys) };
      }
      if (part.startsWith('*')) {
        if (!last) {
          if (part !== '*')
            throw new TypeError(`Invalid path pattern ${JSON.stringify(pattern)}: only a final wildcard can be named`);
          return { kind: 'any' };
        }
        return { kind: 'rest', name: part === '*' ? this.#key('*', keys) : this.#key(part.slice(1), keys) };
      }
      return { kind: 'literal', value: this.#caseSensitive ? part : part.toLowerCase() };
    });
    this.keys = keys;
    this.isStatic = this.#segments.every((segment) => segment.kind === 'literal');
  }

  #key(name: string, keys: string[]): string {
    if (name !== '*' && !NAME.test(name)) {
      throw new TypeError(
        `Invalid parameter name ${JSON.stringify(name)} in path pattern ${JSON.stringify(this.source)}`,
      );
    }
    if (keys.includes(name)) {
      throw new TypeError(`Duplicate parameter ${JSON.stringify(name)} in path pattern ${JSON.stringify(this.source)}`);
    }
    keys.push(name);
    return name;
  }

  /**
   * Matches a request path (a query string or fragment is ignored). Returns the decoded parameters, or
   * null when the path does not match or a parameter is not valid percent-encoding.
   */
  match(url: string): PathParams | null {
    let end = url.length;
    const query = url.indexOf('?');
    if (query !== -1) end = query;
    const hash = url.indexOf('#');
    if (hash !== -1 && hash < end) end = hash;
    let path = end === url.length ? url : url.slice(0, end);
    if (path === '' || path[0] !== '/') return null;
    if (!this.#strict) path = trimTrailingSlash(path);

    const params: PathParams = Object.create(null) as PathParams;
    const length = path.length;
    let cursor = 0;
    for (const segment of this.#segments) {
      if (segment.kind === 'rest') {
        const value = cursor === length ? '' : decode(path.slice(cursor + 1));
        if (value === null) return null;
        params[segment.name] = value;
        cursor = length;
        break;
      }
      if (cursor >= length || path.charCodeAt(cursor) !== 0x2f) return null;
      const next = path.indexOf('/', cursor + 1);
      const stop = next === -1 ? length : next;
      const raw = path.slice(cursor + 1, stop);
      cursor = stop;
      if (segment.kind === 'literal') {
        if (!this.#sameLiteral(raw, segment.value)) return null;
      } else {
        if (raw === '') return null;
        if (segment.kind === 'param') {
          const value = decode(raw);
          if (value === null) return null;
          params[segment.name] = value;
        }
      }
    }
    return cursor === length ? params : null;
  }

  test(url: string): boolean {
    return this.match(url) !== null;
  }

  #sameLiteral(raw: string, literal: string): boolean {
    const candidate = this.#caseSensitive ? raw : raw.toLowerCase();
    if (candidate === literal) return true;
    if (!raw.includes('%')) return false;
    const decoded = decode(raw);
    if (decoded === null) return false;
    return (this.#caseSensitive ? decoded : decoded.toLowerCase()) === literal;
  }
}

function trimTrailingSlash(path: string): string {
  return path.endsWith('/') ? path.slice(0, -1) : path;
}

function decode(value: string): string | null {
  if (!value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return null;
  }
}
