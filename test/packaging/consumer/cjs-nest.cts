// CommonJS consumer of the Nest adapter. Nest 12 ships ESM only, which CommonJS can load (and TypeScript
// type) only where require(esm) exists: checked under moduleResolution nodenext.
import { WskitAdapter, UseConnectionGuards } from '@wskit/nest';
import { NestFactory } from '@nestjs/core';

export = [WskitAdapter, UseConnectionGuards, NestFactory];
