#!/usr/bin/env node
// Nest chat rooms on @wskit/nest: one gateway on a `/rooms/:room` path pattern, Nest's own class-level
// @UseGuards running against the upgrade request (403 without a `?name=`, 401 for a reserved name),
// acks and room broadcast.
// Plain JavaScript, so decorators are applied as functions.
// Usage (after `npm run build`): node examples/nest-chat/index.mjs [--port 8080]
//   GET /                  a short text page
//   WS  /rooms/:room?name=you   send {"event":"say","data":"hi"}; everyone in the room gets
//                          {"event":"said","data":{"room","name","text"}}; the sender also gets an ack;
//                          unknown events and bad JSON get {"event":"exception","data":{"code",...}}
import 'reflect-metadata';
import { Controller, Get, Module, UnauthorizedException, UseGuards } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { ConnectedSocket, MessageBody, SubscribeMessage, WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import { WskitAdapter, WsParams, getConnectionContext } from '@wskit/nest';

const args = process.argv.slice(2);
const at = args.indexOf('--port');
const port = Number(at >= 0 ? args[at + 1] : (process.env.PORT ?? 8080));

// A gateway's class guards run twice in Nest's sense: once on the upgrade request (type 'http', before
// the handshake) and again per message (type 'ws'); this one only has work to do at connect time.
class NameGuard {
  canActivate(context) {
    if (context.getType() !== 'http') return true;
    const req = context.switchToHttp().getRequest();
    const name = new URL(req.url, 'http://host').searchParams.get('name');
    if (name === 'admin') throw new UnauthorizedException('reserved name');
    return Boolean(name);
  }
}

class RoomsGateway {
  server;

  handleConnection(client, _request, context) {
    this.#toRoom(context.params.room, {
      event: 'joined',
      data: { room: context.params.room, name: context.query.name },
    });
  }

  say(text, client, room) {
    const { name } = getConnectionContext(client).query;
    this.#toRoom(room, { event: 'said', data: { room, name, text: String(text).slice(0, 2000) } });
    return { event: 'ack', data: { ok: true } };
  }

  #toRoom(room, message) {
    this.server.broadcast(JSON.stringify(message), { filter: (c) => getConnectionContext(c)?.params.room === room });
  }
}

const proto = RoomsGateway.prototype;
WebSocketServer()(proto, 'server');
SubscribeMessage('say')(proto, 'say', Object.getOwnPropertyDescriptor(proto, 'say'));
MessageBody()(proto, 'say', 0);
ConnectedSocket()(proto, 'say', 1);
WsParams('room')(proto, 'say', 2);
WebSocketGateway({ path: '/rooms/:room', maxPayload: 16 * 1024, perMessageDeflate: true })(RoomsGateway);
UseGuards(NameGuard)(RoomsGateway);

class HomeController {
  home() {
    return 'wskit nest chat: open ws://host/rooms/<room>?name=<you> and send {"event":"say","data":"hi"}';
  }
}
Get('/')(HomeController.prototype, 'home', Object.getOwnPropertyDescriptor(HomeController.prototype, 'home'));
Controller()(HomeController);

class AppModule {}
Module({ controllers: [HomeController], providers: [RoomsGateway] })(AppModule);

const app = await NestFactory.create(AppModule, new ExpressAdapter(), { logger: ['error', 'warn'] });
app.useWebSocketAdapter(new WskitAdapter(app, { shutdownTimeout: 2000 }));
app.enableShutdownHooks();
await app.listen(port, '127.0.0.1');
console.log(`READY ${app.getHttpServer().address().port}`);
