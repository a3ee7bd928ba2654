import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Hono } from 'hono';

/** Where the page's sources live (web/ runs in the browser). */
const WEB_DIR = path.join(__dirname, '..', 'web');

/**
 * `GET /chat`: a small chat page on the AI SDK's own client, talking to `/v1/chat` with the bearer token given in
 * the address (`/chat#token=…`). Its script is bundled from web/chat-page.ts by esbuild on first request and kept in
 * memory: nothing generated is checked in, no build step precedes `npm start`, and the bundle always matches the
 * installed `ai`. The page holds no secret, so it needs no authentication; every call it makes does.
 */
export function chatPageRoutes(): Hono {
  const app = new Hono();
  let script: Promise<string> | undefined;
  const bundle = () => {
    script ??= bundleScript().catch((err: unknown) => {
      script = undefined;
      throw err;
    });
    return script;
  };

  app.get('/chat', async (c) => c.html(await readFile(path.join(WEB_DIR, 'chat-page.html'), 'utf8')));
  app.get('/chat/app.js', async (c) =>
    c.body(await bundle(), 200, { 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'no-cache' }),
  );
  return app;
}

async function bundleScript(): Promise<string> {
  // Loaded only when the page is asked for: a gateway that never serves it never needs esbuild.
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [path.join(WEB_DIR, 'chat-page.ts')],
    tsconfig: path.join(WEB_DIR, 'tsconfig.json'),
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    write: false,
    logLevel: 'silent',
  });
  return result.outputFiles[0]?.text ?? '';
}
