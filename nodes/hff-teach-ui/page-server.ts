/**
 * The teaching page over HTTP, mounted on Node-RED's httpNode app (so its http auth, TLS and CORS settings apply):
 * the page and its assets, Server-Sent Events with the session's changes, the frames' pictures, and JSON commands.
 * One middleware per httpNode app dispatches by path to the running hff-teach-ui nodes, so a redeploy swaps a node
 * without touching Express's route tables.
 *
 *   GET  <path>/                 the page            GET  <path>/events          SSE: state, frame, stats, ...
 *   GET  <path>/state            the state as JSON   GET  <path>/frames/<id>/live|thumb, <path>/gallery/<file>
 *   POST <path>/teach {label, frames}   POST <path>/forget {label}   POST <path>/rename {label, to}   POST <path>/record {on}
 */
import * as fs from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as path from 'node:path';
import { PageError, type TeachSession } from './teach-session';

/** The Express app Node-RED gives nodes (only what is used here). */
export interface HttpApp {
  use(handler: (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void): unknown;
}

type Request = IncomingMessage & { path?: string; body?: unknown };

const MAX_BODY_BYTES = 256 * 1024;
const MAX_CLIENTS = 32;
const HEARTBEAT_MS = 15_000;
const ASSETS: Record<string, string> = {
  '/': 'index.html',
  '/page.js': 'page.js',
  '/page.css': 'page.css',
};
const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };

/** A page path as the node's dialog gives it: '/' and then letters, digits, '-', '_', '.', '/'; no trailing '/'. */
export function checkPagePath(value: unknown): string {
  const text = typeof value === 'string' ? value.trim() : '';
  const p = text.startsWith('/') ? text : `/${text}`;
  if (p === '/' || !/^(\/[A-Za-z0-9._-]+)+$/.test(p) || p.split('/').some((part) => part === '.' || part === '..')) {
    throw new Error(`page path ${JSON.stringify(value)} is not usable: give a path such as /hff/teach (letters, digits, '-', '_', '.', separated by '/')`);
  }
  return p;
}

const dispatchers = new WeakMap<object, Map<string, PageServer>>();

/** Serves `server` at `pagePath` of `app`; throws when another node serves that path. Returns the unmount function. */
export function mountPage(app: HttpApp, pagePath: string, server: PageServer): () => void {
  let pages = dispatchers.get(app);
  if (!pages) {
    const table = new Map<string, PageServer>();
    pages = table;
    dispatchers.set(app, table);
    app.use((req, res, next) => {
      const url = (req as Request).path ?? new URL(req.url ?? '/', 'http://x').pathname;
      for (const [base, page] of table) {
        if (url === base || url.startsWith(`${base}/`)) {
          page.handle(req as Request, res, url.slice(base.length), base).catch((err: unknown) => sendError(res, err));
          return;
        }
      }
      next();
    });
  }
  if (pages.has(pagePath)) throw new Error(`another hff-teach-ui node already serves ${pagePath}: give this one another path`);
  pages.set(pagePath, server);
  const table = pages;
  return () => {
    if (table.get(pagePath) === server) table.delete(pagePath);
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(JSON.stringify(body));
}

function sendError(res: ServerResponse, err: unknown): void {
  if (err instanceof PageError) sendJson(res, err.status, { error: err.message, ...err.details });
  else sendJson(res, 500, { error: err instanceof Error ? err.message : String(err) });
}

async function readJson(req: Request): Promise<Record<string, unknown>> {
  const type = String(req.headers['content-type'] ?? '');
  // Only JSON: a cross-site HTML form cannot send it without the browser asking this server first (CORS).
  if (!/^application\/json\b/i.test(type))
    throw new PageError(`send the command as JSON (Content-Type: application/json), not ${type || 'no content type'}`, 415);
  let body: unknown = req.body;
  if (body === undefined || (typeof body === 'object' && body !== null && Object.keys(body).length === 0 && !req.readableEnded)) {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY_BYTES) throw new PageError(`the command is larger than ${MAX_BODY_BYTES / 1024} kB`, 413);
      chunks.push(chunk as Buffer);
    }
    const text = Buffer.concat(chunks).toString('utf8');
    try {
      body = text.trim() === '' ? {} : JSON.parse(text);
    } catch {
      throw new PageError('the command is not valid JSON');
    }
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new PageError('the command must be a JSON object');
  return body as Record<string, unknown>;
}

interface Client {
  res: ServerResponse;
  heartbeat: NodeJS.Timeout;
}

export class PageServer {
  private readonly clients = new Set<Client>();
  private readonly assets = new Map<string, Buffer>();
  private readonly unsubscribe: () => void;
  /** Command results for the node's output (teach, forget, rename). */
  onCommand: (result: Record<string, unknown>) => void = () => undefined;
  /** Called when a page connects or leaves. */
  onViewers: (count: number) => void = () => undefined;

  constructor(
    private readonly session: TeachSession,
    assetDir: string,
  ) {
    for (const file of new Set(Object.values(ASSETS))) this.assets.set(file, fs.readFileSync(path.join(assetDir, file)));
    this.unsubscribe = session.onEvent((name, data) => this.broadcast(name, data));
  }

  get clientCount(): number {
    return this.clients.size;
  }

  async handle(req: Request, res: ServerResponse, sub: string, base: string): Promise<void> {
    const method = req.method ?? 'GET';
    if (method === 'GET' || method === 'HEAD') {
      if (sub === '') {
        // The page uses relative addresses: it must be served with the trailing '/'.
        const query = (req.url ?? '').includes('?') ? (req.url ?? '').slice((req.url ?? '').indexOf('?')) : '';
        res.statusCode = 302;
        res.setHeader('Location', `${path.posix.basename(base)}/${query}`);
        res.end();
        return;
      }
      const asset = ASSETS[sub];
      if (asset) return this.sendAsset(res, asset);
      if (sub === '/events') return this.subscribe(req, res);
      if (sub === '/state') return sendJson(res, 200, this.session.snapshot());
      const frame = /^\/frames\/([A-Za-z0-9-]{1,40})\/(live|thumb)$/.exec(sub);
      if (frame) {
        const picture = this.session.picture(frame[1], frame[2] as 'live' | 'thumb');
        if (!picture) return sendJson(res, 404, { error: `frame ${frame[1]} has expired (or has no picture)` });
        res.setHeader('Content-Type', picture.type);
        res.setHeader('Cache-Control', 'private, max-age=3600, immutable');
        res.end(picture.data);
        return;
      }
      const gallery = /^\/gallery\/([^/]+)$/.exec(sub);
      if (gallery) return this.sendGalleryFile(res, gallery[1]);
      return sendJson(res, 404, { error: `nothing at ${sub} of the teaching page` });
    }
    if (method !== 'POST') return sendJson(res, 405, { error: `${method} is not accepted here: the page's commands are POST requests` });
    const body = await readJson(req);
    let result: Record<string, unknown>;
    switch (sub) {
      case '/teach':
        result = { ...(await this.session.teach(body.label, body.frames)) };
        break;
      case '/forget':
        result = await this.session.forget(body.label);
        break;
      case '/rename':
        result = await this.session.rename(body.label, body.to);
        break;
      case '/record':
        return sendJson(res, 200, this.session.record(body.on));
      default:
        return sendJson(res, 404, { error: `unknown command ${sub}: the page sends /teach, /forget, /rename and /record` });
    }
    this.onCommand(result);
    sendJson(res, 200, result);
  }

  /** Ends every page connection: the pages reconnect (to the next node after a redeploy). */
  close(): void {
    this.unsubscribe();
    const clients = [...this.clients];
    this.clients.clear();
    for (const c of clients) {
      clearInterval(c.heartbeat);
      c.res.end();
    }
  }

  private sendAsset(res: ServerResponse, file: string): void {
    res.setHeader('Content-Type', TYPES[path.extname(file)] ?? 'application/octet-stream');
    res.setHeader('Cache-Control', 'no-cache');
    res.end(this.assets.get(file));
  }

  private sendGalleryFile(res: ServerResponse, name: string): void {
    const file = this.session.galleryFile(name);
    if (!file) return sendJson(res, 404, { error: `${name} is not a gallery picture` });
    fs.readFile(file, (err, data) => {
      if (err) return sendJson(res, 404, { error: `gallery picture ${name} is gone` });
      res.setHeader('Content-Type', name.endsWith('.png') ? 'image/png' : 'image/jpeg');
      res.setHeader('Cache-Control', 'private, max-age=86400, immutable');
      res.end(data);
    });
  }

  private subscribe(req: Request, res: ServerResponse): void {
    if (this.clients.size >= MAX_CLIENTS) return sendJson(res, 503, { error: `the teaching page has ${MAX_CLIENTS} viewers already; close one` });
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.write('retry: 1000\n\n');
    const client: Client = { res, heartbeat: setInterval(() => res.write(': ping\n\n'), HEARTBEAT_MS) };
    client.heartbeat.unref();
    this.clients.add(client);
    this.write(client, 'state', this.session.snapshot());
    this.onViewers(this.clients.size);
    req.on('close', () => {
      clearInterval(client.heartbeat);
      if (this.clients.delete(client)) this.onViewers(this.clients.size);
    });
  }

  private broadcast(name: string, data: unknown): void {
    if (this.clients.size === 0) return;
    const text = `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const c of this.clients) c.res.write(text);
  }

  private write(client: Client, name: string, data: unknown): void {
    client.res.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
  }
}
