// `koa2` is the root's npm alias of koa@2; it ships no types, and its API is the one @types/koa describes.
declare module 'koa2' {
  import Koa = require('koa');
  export = Koa;
}
