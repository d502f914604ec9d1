// One set of server options for wskit and ws, so both run the same configuration.
export function serverOptions() {
  return {
    host: '127.0.0.1',
    port: 0,
    // Above the 16 MiB scenario, explicit so neither library's default decides.
    maxPayload: 64 * 1024 * 1024,
    perMessageDeflate: process.env.BENCH_DEFLATE
      ? { threshold: 1024, concurrencyLimit: 10, zlibDeflateOptions: { level: 6, memLevel: 8 } }
      : false,
  };
}
