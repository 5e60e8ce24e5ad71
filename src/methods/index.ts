/** The method table: every verb the server speaks, one module each. */
import type { DavMethod } from './method.js';
import { options } from './options.js';
import { get, head } from './get.js';
import { put } from './put.js';
import { del } from './delete.js';
import { mkcol } from './mkcol.js';
import { copy, move } from './copy-move.js';
import { propfind } from './propfind.js';
import { proppatch } from './proppatch.js';
import { lock } from './lock.js';
import { unlock } from './unlock.js';

export const METHODS: readonly DavMethod[] = [options, get, head, put, del, mkcol, copy, move, propfind, proppatch, lock, unlock];

export type { DavMethod };
