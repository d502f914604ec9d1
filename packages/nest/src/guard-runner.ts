/**
 * Runs a gateway's connect-time guards in order against the upgrade request. A guard that returns
 * false refuses with 403; one that throws an HttpException refuses with that exception's status and
 * body; any other error refuses with 500 (and is reported). Observables are supported, as in Nest.
 */
import { HttpException, type CanActivate, type INestApplicationContext, type Type } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { isObservable, lastValueFrom } from 'rxjs';
import type { ConnectionGuard } from './connection-guards.js';
import type { UpgradeExecutionContext } from './upgrade-execution-context.js';

export type GuardVerdict =
  { allowed: true } | { allowed: false; status: number; body: string | Record<string, unknown>; error?: unknown };

export class GuardRunner {
  readonly #instances = new Map<Type<CanActivate>, Promise<CanActivate>>();

  constructor(private readonly app: INestApplicationContext | null) {}

  async run(guards: readonly ConnectionGuard[], context: UpgradeExecutionContext): Promise<GuardVerdict> {
    for (const guard of guards) {
      try {
        const instance = typeof guard === 'function' ? await this.#resolve(guard) : guard;
        const raw = instance.canActivate(context);
        const result = isObservable(raw) ? await lastValueFrom(raw) : await raw;
        if (!result) {
          return {
            allowed: false,
            status: 403,
            body: { statusCode: 403, message: 'Forbidden resource', error: 'Forbidden' },
          };
        }
      } catch (error) {
        if (error instanceof HttpException) {
          const response = error.getResponse();
          return {
            allowed: false,
            status: error.getStatus(),
            body: typeof response === 'string' ? response : (response as Record<string, unknown>),
          };
        }
        return {
          allowed: false,
          status: 500,
          body: { statusCode: 500, message: 'Internal server error' },
          error,
        };
      }
    }
    return { allowed: true };
  }

  /** A guard class is taken from the DI container when provided in a module, else instantiated with DI. */
  #resolve(type: Type<CanActivate>): Promise<CanActivate> {
    let instance = this.#instances.get(type);
    if (!instance) {
      instance = this.#create(type);
      this.#instances.set(type, instance);
      instance.catch(() => this.#instances.delete(type));
    }
    return instance;
  }

  async #create(type: Type<CanActivate>): Promise<CanActivate> {
    if (this.app) {
      // Only ModuleRef is asked of the application itself: a failed app.get() would go through Nest's
      // exceptions zone, which exits the process unless abortOnError is off. Every module provides it.
      const moduleRef = this.app.get(ModuleRef, { strict: false });
      try {
        return moduleRef.get(type, { strict: false });
      } catch {
        // not a provider: build it with dependency injection
      }
      return moduleRef.create(type);
    }
    return new type();
  }
}
