import { formatExtensions, isToken, parseExtensions } from '../src/extension-header.js';

/** Plain-object copy, so expectations do not depend on the null prototype. */
function plain(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value));
}

describe('parseExtensions: valid headers', () => {
  test('a bare extension name', () => {
    expect(plain(parseExtensions('permessage-deflate'))).toEqual({ 'permessage-deflate': [{}] });
  });

  test('parameters with and without values', () => {
    expect(plain(parseExtensions('permessage-deflate; client_max_window_bits; server_max_window_bits=10'))).toEqual({
      'permessage-deflate': [{ client_max_window_bits: [true], server_max_window_bits: ['10'] }],
    });
  });

  test('several offers of one extension keep their order; other extensions are listed apart', () => {
    const parsed = parseExtensions(
      'permessage-deflate; server_max_window_bits=12, foo; bar, permessage-deflate, x-webkit-deflate-frame',
    );
    expect(plain(parsed)).toEqual({
      'permessage-deflate': [{ server_max_window_bits: ['12'] }, {}],
      foo: [{ bar: [true] }],
      'x-webkit-deflate-frame': [{}],
    });
  });

  test('duplicate parameters keep every value', () => {
    expect(plain(parseExtensions('a; b=1; b; b="2"'))).toEqual({ a: [{ b: ['1', true, '2'] }] });
  });

  test('quoted values are unescaped', () => {
    expect(plain(parseExtensions('a; b="10"; c="x\\yz"; d="\\1\\2"'))).toEqual({
      a: [{ b: ['10'], c: ['xyz'], d: ['12'] }],
    });
  });

  test('optional whitespace around separators and "=" is allowed', () => {
    expect(plain(parseExtensions(' \ta \t;\t b \t=\t "1" \t, \tc ; d=2 '))).toEqual({
      a: [{ b: ['1'] }],
      c: [{ d: ['2'] }],
    });
  });

  test('empty list elements are skipped (RFC 7230 §7)', () => {
    expect(plain(parseExtensions(', a ,, b,'))).toEqual({ a: [{}], b: [{}] });
  });

  test('every token character is accepted in names and values', () => {
    const tchars = "!#$%&'*+-.^_`|~09AZaz";
    expect(plain(parseExtensions(`${tchars}; ${tchars}=${tchars}`))).toEqual({ [tchars]: [{ [tchars]: [tchars] }] });
  });

  test('__proto__ and constructor are ordinary names and pollute nothing', () => {
    const parsed = parseExtensions('__proto__; __proto__=1; constructor, constructor; toString');
    expect(Object.getPrototypeOf(parsed)).toBeNull();
    expect(Object.keys(parsed)).toEqual(['__proto__', 'constructor']);
    expect(parsed['__proto__'][0]['__proto__']).toEqual(['1']);
    expect(parsed['__proto__'][0]['constructor']).toEqual([true]);
    expect(parsed['constructor'][0]['toString']).toEqual([true]);
    expect(Object.getPrototypeOf(parsed['constructor'][0])).toBeNull();
    expect(({} as Record<string, unknown>)['1']).toBeUndefined();
    expect(Object.prototype.hasOwnProperty.call(Object.prototype, 'toString')).toBe(true);
  });
});

describe('parseExtensions: malformed headers throw SyntaxError', () => {
  const malformed: [string, string][] = [
    ['empty', ''],
    ['only whitespace', '  \t '],
    ['only commas', ' , ,'],
    ['leading semicolon', '; a'],
    ['missing parameter after ";"', 'a;'],
    ['empty parameter between semicolons', 'a; ; b'],
    ['missing value after "="', 'a; b='],
    ['missing value before ";"', 'a; b= ; c'],
    ['two tokens without separator', 'a b'],
    ['parameter name with space inside', 'a; b c=1'],
    ['"=" without a parameter name', 'a; =1'],
    ['"=" directly after the extension name', 'a=1'],
    ['two "="', 'a; b==1'],
    ['value with a space inside', 'a; b=1 2'],
    ['non-token character in name', 'a/b'],
    ['non-token character in value', 'a; b=1/2'],
    ['non-ASCII character', 'permessage-deflaté'],
    ['control character', 'a;\u0000b'],
    ['CRLF injection', 'a\r\nX-Injected: 1'],
    ['unterminated quoted string', 'a; b="10'],
    ['empty quoted string', 'a; b=""'],
    ['space inside quotes', 'a; b="1 0"'],
    ['separator inside quotes', 'a; b="1,0"'],
    ['escape of a non-token character', 'a; b="1\\ 0"'],
    ['escape at end of input', 'a; b="1\\'],
    ['quote in the middle of a token', 'a; b=1"0"'],
    ['garbage after a quoted string', 'a; b="1"x'],
    ['quoted extension name', '"a"'],
    ['quoted parameter name', 'a; "b"=1'],
  ];

  test.each(malformed)('%s', (_label, header) => {
    expect(() => parseExtensions(header)).toThrow(SyntaxError);
  });

  test('the message names the offending position', () => {
    expect(() => parseExtensions('a; b=1/2')).toThrow(/index 6/);
  });
});

describe('parseExtensions: adversarial input is handled in linear time', () => {
  // A backtracking parser needs seconds to minutes on these; a linear scan needs milliseconds.
  const n = 200_000;
  const cases: [string, string, boolean][] = [
    ['many parameters', 'a' + '; b=1'.repeat(n), true],
    ['many offers', 'a, '.repeat(n) + 'a', true],
    ['many escapes in one quoted value', 'a; b="' + '\\1'.repeat(n) + '"', true],
    ['long whitespace run then garbage', 'a;' + ' '.repeat(n * 5) + '=', false],
    ['unterminated quote after a long value', 'a; b="' + '1'.repeat(n * 5), false],
    ['many empty elements then garbage', ','.repeat(n * 5) + '/', false],
    ['many distinct parameter names', 'a' + Array.from({ length: n / 4 }, (_, i) => `; p${i}`).join(''), true],
  ];

  test.each(cases)('%s', (_label, header, valid) => {
    const started = performance.now();
    if (valid) expect(() => parseExtensions(header)).not.toThrow();
    else expect(() => parseExtensions(header)).toThrow(SyntaxError);
    // Generous guard, not a benchmark: quadratic behaviour on 1 MB would take far longer.
    expect(performance.now() - started).toBeLessThan(2000);
  });

  test('a long valid header parses to the right shape', () => {
    const parsed = parseExtensions('a' + '; b=1'.repeat(1000) + ', c; d="\\x"');
    expect(parsed['a'][0]['b']).toHaveLength(1000);
    expect(plain(parsed['c'])).toEqual([{ d: ['x'] }]);
  });
});

describe('formatExtensions', () => {
  test('formats names, valueless parameters, numbers and strings', () => {
    expect(
      formatExtensions({
        'permessage-deflate': { client_max_window_bits: 10, server_no_context_takeover: true, x: 'y' },
      }),
    ).toBe('permessage-deflate; client_max_window_bits=10; server_no_context_takeover; x=y');
  });

  test('formats several offers and repeated values', () => {
    expect(
      formatExtensions({
        'permessage-deflate': [{ server_max_window_bits: 12 }, {}],
        foo: { bar: [true, 1, 'z'] },
      }),
    ).toBe('permessage-deflate; server_max_window_bits=12, permessage-deflate, foo; bar; bar=1; bar=z');
  });

  test('an empty map formats to an empty string', () => {
    expect(formatExtensions({})).toBe('');
  });

  test('round-trips through parseExtensions', () => {
    const header = formatExtensions({
      'permessage-deflate': [{ client_max_window_bits: true, server_max_window_bits: 9 }, { a: ['1', '2'] }],
    });
    expect(plain(parseExtensions(header))).toEqual({
      'permessage-deflate': [{ client_max_window_bits: [true], server_max_window_bits: ['9'] }, { a: ['1', '2'] }],
    });
  });

  test.each([
    ['extension name with a space', { 'a b': {} }],
    ['extension name with CRLF', { 'a\r\nX-Evil: 1': {} }],
    ['empty extension name', { '': {} }],
    ['parameter name with "="', { a: { 'b=c': true } }],
    ['value with a comma', { a: { b: '1,2' } }],
    ['value with CRLF', { a: { b: '1\r\nX-Evil: 1' } }],
    ['empty value', { a: { b: '' } }],
  ])('rejects %s', (_label, exts) => {
    expect(() => formatExtensions(exts as Parameters<typeof formatExtensions>[0])).toThrow(TypeError);
  });

  test('rejects a value of the wrong type', () => {
    const exts = { a: { b: false } } as unknown as Parameters<typeof formatExtensions>[0];
    expect(() => formatExtensions(exts)).toThrow(TypeError);
  });
});

test('isToken', () => {
  expect(isToken('permessage-deflate')).toBe(true);
  expect(isToken('')).toBe(false);
  expect(isToken('a b')).toBe(false);
  expect(isToken('ä')).toBe(false);
});
