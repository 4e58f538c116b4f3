import http from 'node:http';

/**
 * An institution's file drop over HTTP as the connectors read it (synth/FORMATS.md, "HTTP"): `<endpoint>/<inst>/files/`
 * is the index, `<endpoint>/<inst>/files/<path>` a file. `intercept` may answer a request first (a 429, a 500) and
 * return true.
 */
export async function startFileDrop(
  institution: string,
  files: Record<string, string>,
  intercept?: (res: http.ServerResponse) => boolean,
): Promise<{ endpoint: string; close(): void }> {
  const server = http.createServer((req, res) => {
    if (intercept?.(res)) return;
    const prefix = `/${institution}/files/`;
    if (req.url === prefix) {
      res.setHeader('content-type', 'application/json');
      return res.end(
        JSON.stringify({
          files: Object.keys(files).map((p) => ({ source: p.split('/')[0], path: p, size: files[p].length })),
        }),
      );
    }
    const p = decodeURIComponent(req.url!.slice(prefix.length));
    if (files[p] === undefined) {
      res.writeHead(404);
      return res.end();
    }
    res.end(files[p]);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    close: () => server.close(),
  };
}
