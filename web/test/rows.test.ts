import { describe, expect, it } from "vitest";
import { FeedRows, type FeedEvent } from "../src/live/rows";
import { FrameBatcher } from "../src/live/batcher";

let seq = 0;
function created(id: string, extra: Partial<FeedEvent> = {}): FeedEvent {
  return {
    id: `${++seq}-0`, type: "interaction.created", interactionId: id, customerId: "c1", channel: "chat",
    occurredAt: new Date("2026-03-29T12:00:00Z"), payload: { eventType: "support_chat", timestamp: "2026-03-29T11:59:58Z" }, ...extra,
  };
}
function analyzed(id: string, label = "negative"): FeedEvent {
  return {
    id: `${++seq}-0`, type: "sentiment.analyzed", interactionId: id, customerId: "c1", channel: "chat",
    payload: { label, confidence: 0.91, scores: { negative: 0.91, neutral: 0.06, positive: 0.03 }, model: "sentiment", modelVersion: "3" },
  };
}

describe("FeedRows", () => {
  it("adds a row on interaction.created and fills its sentiment on sentiment.analyzed", () => {
    const rows = new FeedRows();
    expect(rows.apply([created("a")])).toBe(true);
    const before = rows.get("a")!;
    expect(before).toMatchObject({ eventType: "support_chat", channel: "chat", sentiment: undefined });
    expect(before.at.toISOString()).toBe("2026-03-29T11:59:58.000Z");
    rows.apply([analyzed("a")]);
    const after = rows.get("a")!;
    expect(after.sentiment).toMatchObject({ label: "negative", model: "sentiment", modelVersion: "3" });
    expect(after.sentiment!.score).toBeCloseTo(-0.88);
    expect(after.rev).toBe(1);
    expect(after).not.toBe(before); // a new object, so the row re-renders
    expect(rows.size).toBe(1);
  });

  it("shows the customer's own id and the content preview that interaction.created carries", () => {
    const rows = new FeedRows();
    rows.apply([created("p", { customerId: "0b9c-uuid", externalCustomerId: "crm-48213",
      payload: { eventType: "support_chat", timestamp: "2026-03-29T11:59:58Z", content: "Where is my order?" } })]);
    expect(rows.get("p")).toMatchObject({ externalCustomerId: "crm-48213", content: "Where is my order?" });
    // Learnt for later events of that customer that carry only our id.
    rows.apply([created("q", { customerId: "0b9c-uuid" })]);
    expect(rows.get("q")!.externalCustomerId).toBe("crm-48213");
  });

  it("merges both events of one frame, in either order", () => {
    const a = new FeedRows();
    a.apply([created("x"), analyzed("x", "positive")]);
    const b = new FeedRows();
    b.apply([analyzed("x", "positive"), created("x")]);
    for (const rows of [a, b]) {
      expect(rows.size).toBe(1);
      expect(rows.get("x")!.sentiment!.label).toBe("positive");
    }
  });

  it("ignores replayed events after a reconnect (one row per interaction)", () => {
    const rows = new FeedRows();
    const e = [created("a"), created("b"), analyzed("a")];
    rows.apply(e);
    rows.apply(e);
    expect(rows.list.map((r) => r.key)).toEqual(["b", "a"]);
  });

  it("keeps the newest rows first and at most `cap` of them", () => {
    const rows = new FeedRows(500);
    const burst = Array.from({ length: 1200 }, (_, i) => created(`i${i}`));
    rows.apply(burst);
    expect(rows.size).toBe(500);
    expect(rows.list[0]!.key).toBe("i1199");
    expect(rows.list[499]!.key).toBe("i700");
    // A late sentiment for an evicted row does not bring it back.
    rows.apply([analyzed("i3")]);
    expect(rows.get("i3")).toBeUndefined();
    expect(rows.size).toBe(500);
  });

  it("rows from the query API merge with streamed ones and fill pending sentiment", () => {
    const rows = new FeedRows();
    rows.apply([created("a")]);
    const fromApi = { ...rows.get("a")!, sentiment: { label: "neutral", score: 0 }, rev: 0 };
    expect(rows.addRows([fromApi])).toBe(true);
    expect(rows.get("a")!.sentiment!.label).toBe("neutral");
    expect(rows.size).toBe(1);
  });

  it("names streamed rows by the organization's customer id once a loaded row taught it", () => {
    const rows = new FeedRows();
    rows.reset([{ key: "old", kind: "interaction", interactionId: "old", customerId: "c1", externalCustomerId: "CUS-1", channel: "web", eventType: "purchase", at: new Date(0), rev: 0, lastEventId: "" }]);
    rows.apply([created("new")]);
    expect(rows.get("new")!.externalCustomerId).toBe("CUS-1");
  });

  it("reset replaces everything (resync)", () => {
    const rows = new FeedRows();
    rows.apply([created("a"), created("b")]);
    rows.reset([{ ...rows.get("a")!, key: "z", interactionId: "z" }]);
    expect(rows.list.map((r) => r.key)).toEqual(["z"]);
  });
});

describe("FrameBatcher", () => {
  it("hands over everything pushed between two frames in one batch", () => {
    const frames: (() => void)[] = [];
    const batches: number[] = [];
    const b = new FrameBatcher<number>((batch) => batches.push(batch.length), (cb) => frames.push(cb));
    for (let i = 0; i < 200; i++) b.push(i); // 200 events within one frame
    expect(frames).toHaveLength(1);
    frames.shift()!();
    expect(batches).toEqual([200]);
    b.push(1);
    b.push(2);
    frames.shift()!();
    expect(batches).toEqual([200, 2]);
  });

  it("holds events while paused and applies them on resume", () => {
    const frames: (() => void)[] = [];
    const batches: number[][] = [];
    const b = new FrameBatcher<number>((batch) => batches.push(batch), (cb) => frames.push(cb));
    b.setPaused(true);
    b.push(1);
    b.push(2);
    expect(frames).toHaveLength(0);
    expect(b.pending).toBe(2);
    b.setPaused(false);
    frames.shift()!();
    expect(batches).toEqual([[1, 2]]);
  });
});
