import assert from "node:assert/strict";
import { ErrorField, WireError } from "../../../wire/protocol/errors.ts";
import { BackendCode } from "../../../wire/protocol/message_codes.ts";
import {
  bindText,
  decodeFields,
  encodeFields,
  errorResponse,
  parse,
  readBind,
  readParse,
  readStartupParams,
  rebind,
  startupMessage,
} from "../../../wire/protocol/messages.ts";

Deno.test("errorResponse() carries SQLSTATE, message, detail, hint and position", () => {
  const bytes = errorResponse(
    new WireError("42703", "Column nope does not exist", { hint: "Check the name", position: 8 }),
  );
  assert.equal(bytes[0], BackendCode.ErrorResponse);
  assert.deepEqual(decodeFields(bytes), [
    [ErrorField.Severity, "ERROR"],
    [ErrorField.SeverityPlain, "ERROR"],
    [ErrorField.Code, "42703"],
    [ErrorField.Message, "Column nope does not exist"],
    [ErrorField.Hint, "Check the name"],
    [ErrorField.Position, "8"],
  ]);
});

Deno.test("decodeFields() and encodeFields() round-trip a notice", () => {
  const fields: [number, string][] = [[ErrorField.Severity, "NOTICE"], [ErrorField.Message, "hi"]];
  assert.deepEqual(decodeFields(encodeFields(BackendCode.NoticeResponse, fields)), fields);
});

Deno.test("readParse() keeps the raw parameter types and checks their count", () => {
  const types = new Uint8Array([0, 2, 0, 0, 0, 23, 0, 0, 0, 0]);
  const message = parse("s", "select $1, $2", types);
  assert.deepEqual(readParse(message), { name: "s", text: "select $1, $2", paramTypes: types });
  assert.throws(() => readParse(parse("s", "x", new Uint8Array([0, 2, 0, 0]))), /malformed/);
});

Deno.test("rebind() changes only the statement name", () => {
  const original = bindText("portal", "client_name", ["1", null]);
  const bind = readBind(original);
  const renamed = readBind(rebind(bind, "lg_p7"));
  assert.equal(renamed.statement, "lg_p7");
  assert.deepEqual(renamed.portal, bind.portal);
  assert.deepEqual(renamed.rest, bind.rest);
});

Deno.test("readStartupParams() reads name/value pairs up to the final NUL", () => {
  const params = readStartupParams(startupMessage({ user: "a@b.org", database: "/home" }));
  assert.deepEqual([...params], [["user", "a@b.org"], ["database", "/home"]]);
});
