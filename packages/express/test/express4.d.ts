// `express4` is an npm alias of express@4; it has the same surface as far as these tests use it.
declare module 'express4' {
  import express from 'express';
  export default express;
}
