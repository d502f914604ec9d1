/**
 * `@UseConnectionGuards(...)`: guards that run against the HTTP upgrade request, before the handshake.
 *
 * Nest hands the adapter a gateway's options but never its class, so the decorator writes the guards
 * (and the class, for `ExecutionContext#getClass()`) into the gateway options themselves. Decorators
 * apply bottom-up: when this one sits above `@WebSocketGateway()` the options already exist; when it
 * sits below, the merge is finished in a microtask, once the class definition is complete (long before
 * any Nest application boots).
 */
import type { CanActivate, Type } from '@nestjs/common';
import { GATEWAY_OPTIONS } from './nest-metadata.js';

export type ConnectionGuard = Type<CanActivate> | CanActivate;

/** Where the decorator records the gateway class inside the gateway options (symbols survive Nest's spread). */
export const GATEWAY_CLASS: unique symbol = Symbol('wskit.gatewayClass');

export interface ConnectionGuardOptions {
  connectionGuards?: ConnectionGuard[];
  [GATEWAY_CLASS]?: Type<unknown>;
}

type GuardHolder = Record<PropertyKey, unknown>;

function merge(target: Type<unknown>, guards: ConnectionGuard[]): boolean {
  const options = Reflect.getMetadata(GATEWAY_OPTIONS, target) as GuardHolder | undefined;
  if (!options) return false;
  const existing = (options.connectionGuards as ConnectionGuard[] | undefined) ?? [];
  Reflect.defineMetadata(
    GATEWAY_OPTIONS,
    { ...options, connectionGuards: [...existing, ...guards], [GATEWAY_CLASS]: target },
    target,
  );
  return true;
}

export function UseConnectionGuards(...guards: ConnectionGuard[]): ClassDecorator {
  return (target) => {
    const type = target as unknown as Type<unknown>;
    if (merge(type, guards)) return;
    // Decorated below @WebSocketGateway(): its options exist once the class definition is complete.
    queueMicrotask(() => merge(type, guards));
  };
}
