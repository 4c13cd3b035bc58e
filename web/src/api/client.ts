// The transport every client shares: gRPC-Web to the page's own origin (Envoy serves both the
// dashboard and the API), with the session's bearer token on every non-public call.

import type { DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { methodAccess } from "./access";
import type { Session } from "./session";

let transport: Transport | null = null;

export function setTransport(t: Transport): void {
  transport = t;
}

export function getTransport(): Transport {
  if (!transport) throw new Error("transport not set (main.tsx sets it at start-up)");
  return transport;
}

const clients = new Map<string, unknown>();

/** A typed client for a service, one per service. */
export function client<S extends DescService>(service: S): Client<S> {
  let c = clients.get(service.typeName) as Client<S> | undefined;
  if (!c) {
    c = createClient(service, getTransport());
    clients.set(service.typeName, c);
  }
  return c;
}

/** For tests: forget the clients (and so the transport they were made with). */
export function resetClients(): void {
  clients.clear();
}

/**
 * Adds `authorization: Bearer` to calls that need credentials, refreshing first when the token is
 * about to expire; a unary call answered UNAUTHENTICATED is retried once after a refresh.
 */
export function authInterceptor(session: Session): Interceptor {
  return (next) => async (req) => {
    if (methodAccess(req.method).public) return next(req);
    if (session.refreshToken && session.expiresSoon()) await session.refresh();
    const token = session.accessToken;
    if (token) req.header.set("authorization", `Bearer ${token}`);
    try {
      return await next(req);
    } catch (e) {
      const err = ConnectError.from(e);
      if (err.code !== Code.Unauthenticated || req.stream || !token || !session.refreshToken) throw e;
      if (!(await session.refresh()) || !session.accessToken) throw e;
      req.header.set("authorization", `Bearer ${session.accessToken}`);
      return next(req);
    }
  };
}
