// @wskit/nest echo on '/': a Nest 12 app on WskitAdapter (the plugin under test). The gateway's handleConnection
// attaches the echo to the raw socket itself, so Nest's JSON message-pattern path is bypassed: this measures
// the adapter's per-handshake and per-message cost, not the parser. Decorators are applied by hand (plain ESM).
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { WebSocketGateway } from '@nestjs/websockets';
import { WskitAdapter } from '@wskit/nest';
import { MAX_PAYLOAD, announce, echo } from './plugin-common.mjs';

const clients = new Set();
class EchoGateway {
  handleConnection(ws) {
    clients.add(ws);
    ws.on('close', () => clients.delete(ws));
    echo(ws);
  }
}
Reflect.decorate([WebSocketGateway({ path: '/', maxPayload: MAX_PAYLOAD })], EchoGateway);
class AppModule {}
Reflect.decorate([Module({ providers: [EchoGateway] })], AppModule);

const app = await NestFactory.create(AppModule, { logger: false });
const adapter = new WskitAdapter(app);
// The adapter's own listener would answer a non-JSON frame with an INVALID_MESSAGE report; a parser that
// returns null makes it ignore every frame, leaving the echo to the gateway (one no-op call per message).
adapter.setMessageParser(() => null);
app.useWebSocketAdapter(adapter);
await app.listen(0, '127.0.0.1');
announce(app.getHttpServer(), '@wskit/nest', () => clients);
