// Who may call a method comes from the protos' (insights.v1.access) option, as on the server: the
// client reads it to know which calls go without a token, and the mock backend to check permissions.

import { getOption } from "@bufbuild/protobuf";
import type { DescMethod } from "@bufbuild/protobuf";
import { access } from "../gen/insights/v1/options_pb";

export interface MethodAccess {
  public: boolean;
  permission: string;
}

export function methodAccess(method: DescMethod): MethodAccess {
  const rule = getOption(method, access);
  return { public: rule.public, permission: rule.permission };
}
