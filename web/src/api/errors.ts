// ConnectError -> what a person reads, and the per-field messages of INVALID_ARGUMENT.

import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema, RetryInfoSchema } from "../gen/google/rpc/error_details_pb";

export interface ApiProblem {
  code: Code;
  message: string;
  /** Field name (camelCase, as in the request) -> its problem. */
  fields: Record<string, string>;
  retryAfterS?: number | undefined;
}

const GENERIC: Partial<Record<Code, string>> = {
  [Code.Unavailable]: "The service is unavailable right now. Try again in a moment.",
  [Code.DeadlineExceeded]: "The request took too long. Try again.",
  [Code.PermissionDenied]: "You don't have permission to do that.",
  [Code.Unauthenticated]: "Your session has ended. Sign in again.",
  [Code.ResourceExhausted]: "Too many requests. Wait a moment and try again.",
  [Code.Unimplemented]: "This feature is not available on this server yet.",
  [Code.Internal]: "Something went wrong on the server.",
  [Code.Unknown]: "Something went wrong. Check your connection and try again.",
};

function camel(path: string): string {
  return path.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

export function toProblem(error: unknown): ApiProblem {
  const err = ConnectError.from(error);
  const fields: Record<string, string> = {};
  for (const br of err.findDetails(BadRequestSchema)) {
    for (const v of br.fieldViolations) fields[camel(v.field)] = v.description;
  }
  let retryAfterS: number | undefined;
  const retry = err.findDetails(RetryInfoSchema)[0];
  if (retry?.retryDelay) retryAfterS = Number(retry.retryDelay.seconds);
  const raw = err.rawMessage.trim();
  // The server's own message is meant for people; the generic one is the fallback for transport failures.
  const message = raw && err.code !== Code.Unknown && err.code !== Code.Internal ? raw : (GENERIC[err.code] ?? (raw || "Unexpected error"));
  return { code: err.code, message, fields, retryAfterS };
}

export function isCode(error: unknown, code: Code): boolean {
  return ConnectError.from(error).code === code;
}
