// Start-up: the transport (gRPC-Web to this origin; the in-memory mock backend in `--mode mock`),
// the router, the stored session, then the app.

import "./styles/app.css";
import { render } from "preact";
import type { Transport } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { App } from "./app/App";
import { installSessionSync, session } from "./app/auth";
import { installRouter } from "./app/router";
import { authInterceptor, setTransport } from "./api/client";

async function createTransport(): Promise<Transport> {
  const interceptors = [authInterceptor(session)];
  // Replaced by a constant at build time: a production build contains no trace of the mock.
  if (import.meta.env.MODE === "mock") {
    const { createMockTransport } = await import("./mock/backend");
    // Knobs for trying the UI under load or with short-lived tokens, e.g.
    // localStorage["mock.eventRate"] = "200", localStorage["mock.tokenTtlS"] = "90".
    const knob = (k: string): number | undefined => {
      const v = Number(localStorage.getItem(`mock.${k}`) ?? Number.NaN);
      return Number.isFinite(v) ? v : undefined;
    };
    return createMockTransport({
      interceptors,
      eventRate: knob("eventRate"),
      tokenTtlS: knob("tokenTtlS"),
      modelDown: localStorage.getItem("mock.modelDown") === "1",
    });
  }
  return createGrpcWebTransport({ baseUrl: window.location.origin, useBinaryFormat: true, interceptors });
}

async function boot(): Promise<void> {
  setTransport(await createTransport());
  installRouter();
  installSessionSync();
  await session.restore();
  const root = document.getElementById("app");
  if (!root) throw new Error("#app missing");
  root.textContent = "";
  render(<App />, root);
}

void boot();
