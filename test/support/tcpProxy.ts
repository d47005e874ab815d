import type { Socket, TCPSocketListener } from 'bun';

/** A TCP proxy in front of a server, that a test can cut to make the server unreachable. */
export interface TcpProxy {
  /** `host:port` of the proxy. */
  readonly address: string;
  /** Closes every proxied connection and stops listening: the server is unreachable until the end. */
  cut(): void;
}

/** Starts a proxy on a free local port that forwards every connection to `target` (`host:port`). */
export function startTcpProxy(target: string): TcpProxy {
  const [host, port] = target.split(':') as [string, string];
  const sockets = new Set<Socket<unknown>>();
  type Pair = { upstream?: Socket<unknown>; early: Uint8Array[] };
  const listener: TCPSocketListener<Pair> = Bun.listen<Pair>({
    hostname: '127.0.0.1',
    port: 0,
    socket: {
      open(client) {
        client.data = { early: [] };
        sockets.add(client);
        void Bun.connect({
          hostname: host,
          port: Number(port),
          socket: {
            open(upstream) {
              sockets.add(upstream);
              client.data.upstream = upstream;
              for (const chunk of client.data.early) upstream.write(chunk);
            },
            data(_upstream, chunk) {
              client.write(chunk);
            },
            close() {
              client.end();
            },
          },
        });
      },
      data(client, chunk) {
        if (client.data.upstream) client.data.upstream.write(chunk);
        else client.data.early.push(new Uint8Array(chunk));
      },
      close(client) {
        client.data.upstream?.end();
      },
    },
  });
  return {
    address: `127.0.0.1:${listener.port}`,
    cut() {
      listener.stop(true);
      for (const socket of sockets) socket.end();
    },
  };
}
