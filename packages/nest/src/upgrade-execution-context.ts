/**
 * The ExecutionContext connect-time guards receive: an HTTP context whose request is the upgrade
 * request and whose response is a real ServerResponse on the upgrade socket (a guard may answer
 * through it, e.g. with a redirect or custom headers).
 */
import type { ContextType, ExecutionContext, Type } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import type { UpgradeResponse } from '@wskit/core';

type HttpArgumentsHost = ReturnType<ExecutionContext['switchToHttp']>;
type RpcArgumentsHost = ReturnType<ExecutionContext['switchToRpc']>;
type WsArgumentsHost = ReturnType<ExecutionContext['switchToWs']>;

export class UpgradeExecutionContext implements ExecutionContext {
  readonly #args: [IncomingMessage, UpgradeResponse, () => void];

  constructor(
    request: IncomingMessage,
    response: UpgradeResponse,
    private readonly gatewayClass: Type<unknown>,
    private readonly handler: (...args: never[]) => unknown,
  ) {
    this.#args = [request, response, () => {}];
  }

  getClass<T = unknown>(): Type<T> {
    return this.gatewayClass as Type<T>;
  }

  getHandler(): (...args: never[]) => unknown {
    return this.handler;
  }

  getArgs<T extends unknown[] = unknown[]>(): T {
    return this.#args as unknown as T;
  }

  getArgByIndex<T = unknown>(index: number): T {
    return this.#args[index] as T;
  }

  getType<TContext extends string = ContextType>(): TContext {
    return 'http' as TContext;
  }

  switchToHttp(): HttpArgumentsHost {
    const [request, response, next] = this.#args;
    return {
      getRequest: <T>() => request as T,
      getResponse: <T>() => response as T,
      getNext: <T>() => next as T,
    };
  }

  switchToRpc(): RpcArgumentsHost {
    return { getData: <T>() => undefined as T, getContext: <T>() => undefined as T };
  }

  /**
   * No socket or message exists yet. Undefined client and data make a guard written only for messages
   * (one that does not check getType()) refuse or throw, so it fails closed rather than letting an upgrade through.
   */
  switchToWs(): WsArgumentsHost {
    return {
      getData: <T>() => undefined as T,
      getClient: <T>() => undefined as T,
      getPattern: () => 'connection',
    };
  }
}
