/**
 * Sec-WebSocket-Extensions parsing and formatting (RFC 6455 §9.1, list syntax of RFC 7230 §7).
 *
 *   extension-list = 1#( token *( OWS ";" OWS token [ BWS "=" BWS ( token / quoted-string ) ] ) )
 *
 * The parser is a single forward scan: every character is looked at once, so adversarial input costs
 * linear time. A quoted value must be a token once unescaped (RFC 6455 §9.1), so only token characters
 * may appear inside the quotes, escaped or not. Empty list elements ("a, , b") are skipped, as RFC 7230
 * §7 asks of recipients; a list with no element at all is malformed.
 */

/** Parameter name → every value seen for it, in order (`true` for a parameter without a value). */
export type ExtensionParams = Record<string, (string | true)[]>;
/** Extension name → every offer of it, in order. */
export type ExtensionOffers = Record<string, ExtensionParams[]>;

type FormatValue = string | number | true;
type FormatParams = Record<string, FormatValue | FormatValue[]>;

const TAB = 0x09;
const SPACE = 0x20;
const QUOTE = 0x22;
const COMMA = 0x2c;
const SEMICOLON = 0x3b;
const EQUALS = 0x3d;
const BACKSLASH = 0x5c;

/** tchar of RFC 7230 §3.2.6, indexed by char code (ASCII only). */
const TCHAR: Uint8Array = (() => {
  const table = new Uint8Array(128);
  for (let c = 0x30; c <= 0x39; c++) table[c] = 1;
  for (let c = 0x41; c <= 0x5a; c++) table[c] = 1;
  for (let c = 0x61; c <= 0x7a; c++) table[c] = 1;
  for (const ch of "!#$%&'*+-.^_`|~") table[ch.charCodeAt(0)] = 1;
  return table;
})();

function isTchar(code: number): boolean {
  return code < 128 && TCHAR[code] === 1;
}

/** Whether `value` is a non-empty RFC 7230 token. */
export function isToken(value: string): boolean {
  if (value.length === 0) return false;
  for (let i = 0; i < value.length; i++) {
    if (!isTchar(value.charCodeAt(i))) return false;
  }
  return true;
}

function pushValue<T>(dest: Record<string, T[]>, key: string, value: T): void {
  const list = Object.hasOwn(dest, key) ? dest[key] : undefined;
  if (list === undefined) dest[key] = [value];
  else list.push(value);
}

class Scanner {
  pos = 0;

  constructor(readonly text: string) {}

  get done(): boolean {
    return this.pos >= this.text.length;
  }

  peek(): number {
    return this.pos < this.text.length ? this.text.charCodeAt(this.pos) : -1;
  }

  skipWhitespace(): void {
    let code = this.peek();
    while (code === SPACE || code === TAB) {
      this.pos++;
      code = this.peek();
    }
  }

  fail(what: string): never {
    if (this.done) throw new SyntaxError(`Invalid Sec-WebSocket-Extensions header: unexpected end of input, ${what}`);
    throw new SyntaxError(
      `Invalid Sec-WebSocket-Extensions header: unexpected character ${JSON.stringify(this.text[this.pos])} at index ${this.pos}, ${what}`,
    );
  }

  token(what: string): string {
    const start = this.pos;
    while (isTchar(this.peek())) this.pos++;
    if (this.pos === start) this.fail(`expected ${what}`);
    return this.text.slice(start, this.pos);
  }

  /** A quoted-string whose unescaped content is a token; the opening quote is at `pos`. */
  quotedToken(): string {
    this.pos++;
    let value = '';
    let segment = this.pos;
    for (;;) {
      const code = this.peek();
      if (code === QUOTE) {
        value += this.text.slice(segment, this.pos);
        this.pos++;
        if (value.length === 0) this.fail('a quoted value must not be empty');
        return value;
      }
      if (code === BACKSLASH) {
        value += this.text.slice(segment, this.pos);
        this.pos++;
        if (!isTchar(this.peek())) this.fail('expected a token character after "\\"');
        segment = this.pos;
        this.pos++;
      } else if (isTchar(code)) {
        this.pos++;
      } else {
        this.fail("expected a token character or '\"' in a quoted value");
      }
    }
  }
}

/**
 * Parses a Sec-WebSocket-Extensions field value. Throws `SyntaxError` on malformed input.
 * The returned objects have no prototype, so names such as `__proto__` are plain keys.
 */
export function parseExtensions(header: string): ExtensionOffers {
  const offers: ExtensionOffers = Object.create(null) as ExtensionOffers;
  const s = new Scanner(header);
  let elements = 0;

  for (;;) {
    s.skipWhitespace();
    const first = s.peek();
    if (first === COMMA) {
      s.pos++;
      continue;
    }
    if (first === -1) break;

    const name = s.token('an extension name');
    const params: ExtensionParams = Object.create(null) as ExtensionParams;
    s.skipWhitespace();
    while (s.peek() === SEMICOLON) {
      s.pos++;
      s.skipWhitespace();
      const param = s.token('a parameter name');
      s.skipWhitespace();
      let value: string | true = true;
      if (s.peek() === EQUALS) {
        s.pos++;
        s.skipWhitespace();
        value = s.peek() === QUOTE ? s.quotedToken() : s.token('a parameter value');
        s.skipWhitespace();
      }
      pushValue(params, param, value);
    }
    pushValue(offers, name, params);
    elements++;

    const next = s.peek();
    if (next === -1) break;
    if (next !== COMMA) s.fail('expected ";" or ","');
    s.pos++;
  }

  if (elements === 0) throw new SyntaxError('Invalid Sec-WebSocket-Extensions header: no extension listed');
  return offers;
}

function formatParam(name: string, value: FormatValue | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value === true) return name;
  if (typeof value !== 'string' && typeof value !== 'number') {
    throw new TypeError(`Invalid value for extension parameter "${name}": ${String(value)}`);
  }
  const text = String(value);
  if (!isToken(text)) throw new TypeError(`Invalid value for extension parameter "${name}": ${JSON.stringify(text)}`);
  return `${name}=${text}`;
}

/**
 * Builds a Sec-WebSocket-Extensions field value. Names and values must be tokens (a quoted value would
 * have to unescape to a token anyway), so nothing can inject header syntax; `undefined` values are skipped.
 */
export function formatExtensions(exts: Record<string, FormatParams | FormatParams[]>): string {
  const elements: string[] = [];
  for (const name of Object.keys(exts)) {
    if (!isToken(name)) throw new TypeError(`Invalid extension name: ${JSON.stringify(name)}`);
    const entry = exts[name];
    const configs = Array.isArray(entry) ? entry : [entry];
    for (const params of configs) {
      const parts = [name];
      for (const param of Object.keys(params)) {
        if (!isToken(param)) throw new TypeError(`Invalid extension parameter name: ${JSON.stringify(param)}`);
        const raw = params[param];
        const values = Array.isArray(raw) ? raw : [raw];
        for (const value of values) {
          const formatted = formatParam(param, value);
          if (formatted !== undefined) parts.push(formatted);
        }
      }
      elements.push(parts.join('; '));
    }
  }
  return elements.join(', ');
}
