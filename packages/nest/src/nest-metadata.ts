/**
 * The reflection keys `@WebSocketGateway()` stores its port and options under. Nest 11 and 12 use the
 * same strings; they are named here rather than deep-imported from `@nestjs/websockets/constants`,
 * which Nest 11 (no `exports` map) only resolves in ESM with a `.js` suffix and Nest 12 only maps for
 * its own layout.
 */
export const GATEWAY_OPTIONS = 'websockets:gateway_options';
export const PORT_METADATA = 'port';
