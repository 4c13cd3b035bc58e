import { describe, expect, it } from "vitest";
import { parseSnippet } from "../src/lib/snippet";

describe("parseSnippet", () => {
  it("splits on <mark> only", () => {
    expect(parseSnippet("my <mark>refund</mark> is <mark>late</mark>")).toEqual([
      { text: "my ", marked: false }, { text: "refund", marked: true }, { text: " is ", marked: false }, { text: "late", marked: true },
    ]);
  });

  it("keeps any other markup as text (it is rendered as text nodes, never as HTML)", () => {
    const parts = parseSnippet('<img src=x onerror="alert(1)"> <mark><b>x</b></mark>');
    expect(parts).toEqual([
      { text: '<img src=x onerror="alert(1)"> ', marked: false },
      { text: "<b>x</b>", marked: true },
    ]);
  });
});
