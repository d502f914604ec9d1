/**
 * Edges of the plumbing: finding an app's Router factory (Express 4 and 5, and objects that are not
 * Express apps), and the instance-level `get` of apps and routers that have `ws()`.
 */
import express5 from 'express';
import express4 from 'express4';
import { wskitExpress } from '@wskit/express';
import { routerFactoryOf } from '../src/router-factory.js';
import { pathKey, separateHttpGets } from '../src/http-get.js';

test('the Router factory of an Express 4 and of an Express 5 app is the one of the copy that made it', () => {
  const r4 = routerFactoryOf(express4());
  const r5 = routerFactoryOf(express5());
  expect(r4).toBe(express4.Router);
  expect(typeof r5).toBe('function');
  expect(Object.getPrototypeOf(Object.getPrototypeOf(r5!()))).toBe(
    Object.getPrototypeOf(Object.getPrototypeOf(express5.Router())),
  );
  // The second lookup of the same Express 5 copy is remembered.
  expect(routerFactoryOf(express5())).toBe(r5);
});

test('objects that are not Express apps have no Router factory; Router() then explains what to pass', () => {
  expect(routerFactoryOf({})).toBeNull();
  expect(routerFactoryOf({ router: Object.create(Object.create({ handle() {} }) as object) as object })).toBeNull();
  // Express 4 shape whose router's prototype is not a factory.
  expect(routerFactoryOf({ lazyrouter() {}, _router: {} })).toBeNull();
  const fake = { get: () => undefined };
  const plugin = wskitExpress(fake);
  expect(() => plugin.Router()).toThrow(/cannot find this app's Router/);
  // With the factory passed explicitly it works.
  expect(typeof wskitExpress(fake, { Router: express5.Router }).Router().ws).toBe('function');
});

test('a target without get() is left alone; ws() on it fails as Express would', () => {
  const target = {} as { get: (...args: unknown[]) => unknown };
  const { httpPaths } = separateHttpGets(target);
  expect(target.get).toBeUndefined();
  expect(httpPaths.size).toBe(0);
  const plugin = wskitExpress(express5());
  expect(() => plugin.applyTo(target).ws('/x', () => {})).toThrow(TypeError);
});

test('path keys: strings, regular expressions and arrays of them', () => {
  expect(pathKey('/a')).toBe('/a');
  expect(pathKey(/^\/b/)).toBe(String(/^\/b/));
  expect(pathKey(['/a', /c/])).toBe(`/a\u0000${String(/c/)}`);
  expect(pathKey(['/a', /c/])).not.toBe(pathKey('/a'));
});

test('app.get with something that is not a handler still gets Express’s own error', () => {
  const { app } = wskitExpress(express5());
  expect(() => app.get('/x', 'not a function' as never)).toThrow();
});
