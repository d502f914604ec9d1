import fc from 'fast-check';
import { PathPattern } from '@wskit/core';

describe('PathPattern', () => {
  test('static paths, optional trailing slash, query and fragment ignored', () => {
    const p = new PathPattern('/chat');
    expect(p.isStatic).toBe(true);
    expect(p.test('/chat')).toBe(true);
    expect(p.test('/chat/')).toBe(true);
    expect(p.test('/chat?token=1')).toBe(true);
    expect(p.test('/chat/?a=b#x')).toBe(true);
    expect(p.test('/chat#frag')).toBe(true);
    expect(p.test('/chatx')).toBe(false);
    expect(p.test('/chat/x')).toBe(false);
    expect(p.test('/Chat')).toBe(false);
    expect(p.test('chat')).toBe(false);
    expect(p.test('')).toBe(false);
    expect(p.test('/chat//')).toBe(false);
  });

  test('root pattern', () => {
    const p = new PathPattern('/');
    expect(p.test('/')).toBe(true);
    expect(p.test('/?q=1')).toBe(true);
    expect(p.test('/a')).toBe(false);
    expect(new PathPattern('').test('/')).toBe(true);
  });

  test('strict trailing slash', () => {
    const p = new PathPattern('/a/', { strictTrailingSlash: true });
    expect(p.test('/a/')).toBe(true);
    expect(p.test('/a')).toBe(false);
    const q = new PathPattern('/a', { strictTrailingSlash: true });
    expect(q.test('/a')).toBe(true);
    expect(q.test('/a/')).toBe(false);
    expect(new PathPattern('/', { strictTrailingSlash: true }).test('/')).toBe(true);
  });

  test('case-insensitive literals keep parameter case', () => {
    const p = new PathPattern('/Rooms/:id', { caseSensitive: false });
    expect(p.match('/rooms/AbC')).toEqual({ id: 'AbC' });
    expect(p.match('/ROOMS/x')).toEqual({ id: 'x' });
    expect(new PathPattern('/Rooms/:id').match('/rooms/x')).toBeNull();
  });

  test(':params capture one non-empty decoded segment', () => {
    const p = new PathPattern('/rooms/:room/users/:user');
    expect(p.keys).toEqual(['room', 'user']);
    expect(p.isStatic).toBe(false);
    expect(p.match('/rooms/lobby/users/42')).toEqual({ room: 'lobby', user: '42' });
    expect(p.match('/rooms/caf%C3%A9/users/a%2Fb')).toEqual({ room: 'café', user: 'a/b' });
    expect(p.match('/rooms//users/42')).toBeNull();
    expect(p.match('/rooms/x/users')).toBeNull();
    expect(p.match('/rooms/x/users/1/2')).toBeNull();
    // malformed percent-encoding never matches (and never throws)
    expect(p.match('/rooms/%E0%A4%A/users/1')).toBeNull();
  });

  test('params object has no prototype, so __proto__ is an ordinary key', () => {
    const params = new PathPattern('/:a').match('/__proto__');
    expect(params).not.toBeNull();
    expect(Object.getPrototypeOf(params)).toBeNull();
    expect(params?.a).toBe('__proto__');
  });

  test('final wildcard captures the rest of the path, possibly empty', () => {
    const p = new PathPattern('/files/*');
    expect(p.keys).toEqual(['*']);
    expect(p.match('/files/a/b/c.txt')).toEqual({ '*': 'a/b/c.txt' });
    expect(p.match('/files/a%20b/c')).toEqual({ '*': 'a b/c' });
    expect(p.match('/files/')).toEqual({ '*': '' });
    expect(p.match('/files')).toEqual({ '*': '' });
    expect(p.match('/files/a/?x=1')).toEqual({ '*': 'a' });
    expect(p.match('/filesx/a')).toBeNull();
    expect(new PathPattern('/static/*path').match('/static/js/app.js')).toEqual({ path: 'js/app.js' });
    expect(new PathPattern('/*').match('/anything/at/all')).toEqual({ '*': 'anything/at/all' });
  });

  test('middle wildcard matches exactly one segment without capturing it', () => {
    const p = new PathPattern('/a/*/c/:d');
    expect(p.match('/a/b/c/d')).toEqual({ d: 'd' });
    expect(p.match('/a/c/d')).toBeNull();
    expect(p.match('/a/b/b/c/d')).toBeNull();
    expect(p.match('/a//c/d')).toBeNull();
  });

  test('literal segments written decoded match encoded request paths', () => {
    expect(new PathPattern('/café').test('/caf%C3%A9')).toBe(true);
    expect(new PathPattern('/a b').test('/a%20b')).toBe(true);
    expect(new PathPattern('/ab').test('/a%ZZ')).toBe(false);
  });

  test('edge forms: a strict empty pattern is the root; bad escapes in the rest fail; encoded literals fold case', () => {
    const root = new PathPattern('', { strictTrailingSlash: true });
    expect(root.test('/')).toBe(true);
    expect(root.test('/a')).toBe(false);
    const rest = new PathPattern('/files/*path');
    expect(rest.match('/files/a%20b/c')).toEqual({ path: 'a b/c' });
    expect(rest.match('/files/a%E0%A4%A')).toBeNull();
    const folded = new PathPattern('/Chat', { caseSensitive: false });
    expect(folded.test('/%43HAT')).toBe(true);
    expect(folded.test('/%63hat')).toBe(true);
    expect(folded.test('/%44hat')).toBe(false);
  });

  test('invalid patterns are rejected at compile time', () => {
    expect(() => new PathPattern('chat')).toThrow(TypeError);
    expect(() => new PathPattern('/:')).toThrow(TypeError);
    expect(() => new PathPattern('/:1a')).toThrow(TypeError);
    expect(() => new PathPattern('/:a/:a')).toThrow(/Duplicate/);
    expect(() => new PathPattern('/*name/x')).toThrow(TypeError);
  });

  test('property: encoded parameter values round-trip through match', () => {
    const p = new PathPattern('/r/:a/x/:b/*');
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, unit: 'grapheme' }),
        fc.string({ minLength: 1, unit: 'grapheme' }),
        fc.array(fc.string({ minLength: 1, unit: 'grapheme-ascii' }), { maxLength: 4 }),
        (a, b, rest) => {
          const tail = rest.map(encodeURIComponent).join('/');
          const params = p.match(`/r/${encodeURIComponent(a)}/x/${encodeURIComponent(b)}/${tail}`);
          expect(params).toEqual({ a, b, '*': rest.join('/') });
        },
      ),
      { numRuns: 300 },
    );
  });

  test('property: never throws, and any match is consistent with a segment-wise reference', () => {
    const p = new PathPattern('/a/:x/*/b');
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom('a', 'b', '', '%', '%41', 'x', '?', '#', '/'), { maxLength: 12 }),
        (parts) => {
          const url = '/' + parts.join('');
          const got = p.match(url);
          const path = url.split(/[?#]/)[0].replace(/(.)\/$/, '$1');
          const segs = path.slice(1).split('/');
          let expected: Record<string, string> | null = null;
          if (segs.length === 4 && segs[0] === 'a' && segs[1] !== '' && segs[2] !== '' && segs[3] === 'b') {
            try {
              expected = { x: decodeURIComponent(segs[1]) };
            } catch {
              expected = null;
            }
          }
          expect(got === null ? null : { ...got }).toEqual(expected);
        },
      ),
      { numRuns: 1000 },
    );
  });

  test('long adversarial paths are answered (no regex backtracking to blow up)', () => {
    const p = new PathPattern('/a/:b/*/c');
    const evil = '/a/' + 'x/'.repeat(200_000) + 'd';
    expect(p.match(evil)).toBeNull();
    const ok = '/a/' + 'y'.repeat(500_000) + '/z/c';
    expect(p.match(ok)?.b).toHaveLength(500_000);
  });
});
