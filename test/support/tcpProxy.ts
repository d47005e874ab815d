import type { Socket, TCPSocketListener } from 'bun';

/** A TCP proxy in front of a server, that a test can cut, or partition from it, to make the server unreachable. */
export interface TcpProxy {
  /** `host:port` of the proxy. */
  readonly address: string;
  /** Closes every proxied connection and stops listening: the server is unreachable until the end. */
  cut(): void;
  /**
   * A silent network partition: from now on the connections open through the proxy lose every byte in
   * both directions, without a reset or a close, as when the path to the server vanished. They stay so
   * for good, and so do the connections opened until `heal()`: the proxy accepts them (as a TCP proxy in
   * front of the server would), and nothing passes.
   */
  partition(): void;
  /** Ends the partition for the connections opened from now on; the older ones stay lost. */
  heal(): void;
}

/** Starts a proxy on a free local port that forwards every connection to `target` (`host:port`). */
export function startTcpProxy(target: string): TcpProxy {
  const [host, port] = target.split(':') as [string, string];
  const sockets = new Set<Socket<unknown>>();
  type Pair = { upstream?: Socket<unknown>; early: Uint8Array[]; lost: boolean };
  const pairs = new Set<Pair>();
  let partitioned = false;

  const connectUpstream = (client: Socket<Pair>) => {
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
          if (!client.data.lost) client.write(chunk);
        },
        close() {
          if (!client.data.lost) client.end();
        },
      },
    });
  };

  const listener: TCPSocketListener<Pair> = Bun.listen<Pair>({
    hostname: '127.0.0.1',
    port: 0,
    socket: {
      open(client) {
        client.data = { early: [], lost: partitioned };
        pairs.add(client.data);
        sockets.add(client);
        if (!partitioned) connectUpstream(client);
      },
      data(client, chunk) {
        if (client.data.lost) return;
        if (client.data.upstream) client.data.upstream.write(chunk);
        else client.data.early.push(new Uint8Array(chunk));
      },
      close(client) {
        pairs.delete(client.data);
        if (!client.data.lost) client.data.upstream?.end();
      },
    },
  });
  return {
    address: `127.0.0.1:${listener.port}`,
    cut() {
      listener.stop(true);
      for (const socket of sockets) socket.end();
    },
    partition() {
      partitioned = true;
      for (const pair of pairs) pair.lost = true;
    },
    heal() {
      partitioned = false;
    },
  };
}
