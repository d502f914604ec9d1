/**
 * The Nest guards that apply to a gateway's upgrade requests: global guards (`useGlobalGuards` and
 * static `APP_GUARD` providers), `@UseGuards()` on the gateway class and on its `handleConnection`.
 *
 * Nest hands the adapter a copy of the gateway options, never the gateway class, so the classes are
 * found in the module container the way Nest pairs them with servers: same port and same `path`
 * option (Nest shares one server between gateways that agree on both). Guard instances are resolved
 * by Nest's own GuardsContextCreator (reached through the ExternalContextCreator provider, which is
 * what libraries building their own handlers use), so they come out exactly as for message handlers:
 * same order (global, class, method), same instances from each gateway's module.
 */
import type { CanActivate, INestApplicationContext, Type } from '@nestjs/common';
import { ExternalContextCreator, ModulesContainer } from '@nestjs/core';
import { GATEWAY_OPTIONS, PORT_METADATA } from './nest-metadata.js';

/** A gateway class served by one GatewayServer, with the guards that run for it at connect time. */
export interface GatewayGuardSet {
  gatewayClass: Type<unknown>;
  /** The gateway instance (Nest's provider). */
  instance: object;
  handler: (...args: never[]) => unknown;
  guards: CanActivate[];
}

interface GuardsContextCreatorLike {
  create(instance: object, callback: (...args: never[]) => unknown, moduleKey: string): CanActivate[];
}

interface ProviderWrapperLike {
  metatype?: unknown;
  instance?: unknown;
}

interface GatewayOptionsLike {
  path?: unknown;
}

function noConnectionHandler(): void {}

/** Finds the gateway classes on `port` + `path` (the raw `path` option) and their guards. */
export function collectGatewayGuards(
  app: INestApplicationContext,
  port: number,
  path: string | undefined,
): GatewayGuardSet[] {
  const modules = app.get(ModulesContainer, { strict: false });
  const external = app.get(ExternalContextCreator, { strict: false });
  // Private in the typings; it is the creator Nest itself uses for external handlers' guards.
  const creator = (external as unknown as { guardsContextCreator?: GuardsContextCreatorLike }).guardsContextCreator;
  if (!creator)
    throw new Error('WskitAdapter: Nest guards context creator not found (unsupported @nestjs/core version)');

  const sets: GatewayGuardSet[] = [];
  const seen = new Set<unknown>();
  for (const [moduleKey, moduleRef] of modules) {
    for (const wrapper of moduleRef.providers.values() as Iterable<ProviderWrapperLike>) {
      const { metatype, instance } = wrapper;
      if (typeof metatype !== 'function' || seen.has(metatype) || typeof instance !== 'object' || instance === null)
        continue;
      const options = Reflect.getMetadata(GATEWAY_OPTIONS, metatype) as GatewayOptionsLike | undefined;
      if (!options) continue;
      const gatewayPort = (Reflect.getMetadata(PORT_METADATA, metatype) as number | undefined) ?? 0;
      if (gatewayPort !== port || options.path !== path) continue;
      seen.add(metatype);
      const gateway = instance as { handleConnection?: (...args: never[]) => unknown };
      const handler = typeof gateway.handleConnection === 'function' ? gateway.handleConnection : noConnectionHandler;
      sets.push({
        gatewayClass: metatype as Type<unknown>,
        instance,
        handler,
        guards: creator.create(instance, handler, moduleKey),
      });
    }
  }
  return sets;
}
