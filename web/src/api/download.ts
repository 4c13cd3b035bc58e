// Downloads that need the bearer token (a plain link cannot send it): fetch, then hand the bytes
// to the browser as a file.

import { session } from "../app/auth";

export async function fetchWithAuth(url: string, init: RequestInit = {}): Promise<Response> {
  if (session.refreshToken && session.expiresSoon()) await session.refresh();
  const headers = new Headers(init.headers);
  if (session.accessToken) headers.set("authorization", `Bearer ${session.accessToken}`);
  let res = await fetch(url, { ...init, headers });
  if (res.status === 401 && (await session.refresh()) && session.accessToken) {
    headers.set("authorization", `Bearer ${session.accessToken}`);
    res = await fetch(url, { ...init, headers });
  }
  return res;
}

export function saveBlob(blob: Blob, filename: string): void {
  const href = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = href;
  a.download = filename;
  a.rel = "noopener";
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 10_000);
}

/** GET url with the token and save the answer; throws with the server's message on an error status. */
export async function download(url: string, filename: string, signal?: AbortSignal): Promise<number> {
  const res = await fetchWithAuth(url, signal ? { signal } : {});
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`;
    try {
      const body = (await res.json()) as { message?: string };
      if (body.message) message = body.message;
    } catch {
      // not JSON
    }
    throw new Error(message);
  }
  const blob = await res.blob();
  saveBlob(blob, filename);
  return blob.size;
}
