// @wskit/nest: a gateway on /nest/rooms/:room whose class guard runs on the upgrade request before the
// handshake and throws UnauthorizedException → a real 401. express-session is app middleware, which the
// adapter runs on upgrades too (its httpPipeline option); the guard runs it itself only if it has not run. Messages go through Nest: the adapter's messageParser maps
// the shared client's {"type":"say"} to the event "say", handled by @SubscribeMessage('say').
// Plain JavaScript, so decorators are applied as functions.
import 'reflect-metadata';
import {
  BadRequestException,
  Body,
  Controller,
  Get,
  HttpCode,
  Module,
  Post,
  Req,
  UnauthorizedException,
  UseGuards,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { ConnectedSocket, MessageBody, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import session from 'express-session';
import { WskitAdapter } from '@wskit/nest';
import { parse } from '../hub.mjs';
import { BAD_NAME, LOG_IN_FIRST, ROOM, SOCKET_OPTIONS, UPGRADE_REQUIRED, nameFrom } from '../common.mjs';

/** Applies a method decorator and parameter decorators the way TypeScript would. */
function decorate(cls, method, methodDecorators, params = []) {
  const proto = cls.prototype;
  for (const decorator of methodDecorators) decorator(proto, method, Object.getOwnPropertyDescriptor(proto, method));
  params.forEach((decorator, index) => decorator(proto, method, index));
}

export async function create({ prefix, hub, secret }) {
  const sessions = session({
    name: 'wskit.nest',
    secret,
    resave: false,
    saveUninitialized: false,
    cookie: { path: prefix, httpOnly: true, sameSite: 'lax' },
  });

  // Runs at connect time (type 'http': the upgrade request); per message (type 'ws') there is nothing left to check.
  class SessionGuard {
    async canActivate(context) {
      if (context.getType() !== 'http') return true;
      const http = context.switchToHttp();
      const req = http.getRequest();
      if (!req.session)
        await new Promise((resolve, reject) => sessions(req, http.getResponse(), (e) => (e ? reject(e) : resolve())));
      if (!req.session.name) throw new UnauthorizedException(LOG_IN_FIRST);
      const room = decodeURIComponent(new URL(req.url, 'http://demo').pathname.split('/').pop() ?? '');
      if (!ROOM.test(room)) throw new BadRequestException('bad room name');
      return true;
    }
  }

  class RoomsGateway {
    handleConnection(client, request, context) {
      hub.join(client, { name: request.session.name, room: context.params.room }, { listen: false });
    }

    say(message, client) {
      hub.say(client, message);
    }
  }
  decorate(RoomsGateway, 'say', [SubscribeMessage('say')], [MessageBody(), ConnectedSocket()]);
  WebSocketGateway({ path: `${prefix}/rooms/:room`, ...SOCKET_OPTIONS })(RoomsGateway);
  UseGuards(SessionGuard)(RoomsGateway);

  class SessionController {
    login(body, req) {
      const name = nameFrom(body);
      if (!name) throw new BadRequestException(BAD_NAME);
      req.session.name = name;
      return { name };
    }

    logout(req) {
      return new Promise((resolve) => req.session.destroy(() => resolve({ name: null })));
    }

    me(req) {
      return { name: req.session.name ?? null };
    }
  }
  decorate(SessionController, 'login', [Post('login'), HttpCode(200)], [Body(), Req()]);
  decorate(SessionController, 'logout', [Post('logout'), HttpCode(200)], [Req()]);
  decorate(SessionController, 'me', [Get('me')], [Req()]);
  Controller(prefix.slice(1))(SessionController);

  class DemoModule {}
  Module({ controllers: [SessionController], providers: [RoomsGateway] })(DemoModule);

  const app = await NestFactory.create(DemoModule, new ExpressAdapter(), { logger: ['error', 'warn'] });
  app.use(prefix, sessions);
  // A plain GET of a room URL (the page's probe after a refused upgrade) gets the guard's answer, as plain
  // HTTP. Upgrades pass: the adapter runs this middleware on them too, then the gateway's guard decides.
  app.use(`${prefix}/rooms/`, (req, res, next) => {
    if (req.headers.upgrade) return next();
    res.status(req.session.name ? 426 : 401).json({ error: req.session.name ? UPGRADE_REQUIRED : LOG_IN_FIRST });
  });
  app.useWebSocketAdapter(
    new WskitAdapter(app, {
      shutdownTimeout: 2000,
      // The shared client speaks {"type":…}; Nest routes by event name.
      messageParser: (data, isBinary) => {
        const message = isBinary ? null : parse(data);
        if (!message || typeof message.type !== 'string') throw new Error('expected a JSON object with a type');
        return { event: message.type, data: message };
      },
    }),
  );
  await app.init();

  // Never listens: the demo's front server hands it the requests and upgrades under /nest.
  const server = app.getHttpServer();
  return {
    handle: (req, res) => server.emit('request', req, res),
    upgrade: (req, socket, head) => server.emit('upgrade', req, socket, head),
    close: () => app.close(),
  };
}
