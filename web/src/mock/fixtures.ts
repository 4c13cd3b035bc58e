// Deterministic, realistic data for the in-memory mock backend: an organization's customers,
// two months of their interactions across five channels, sentiment and behaviour patterns.
// Development (`npm run dev:mock`) and tests only; never part of a production build.

export interface MockSentiment {
  label: "positive" | "neutral" | "negative";
  scores: { negative: number; neutral: number; positive: number };
  confidence: number;
  score: number;
}

export interface MockInteraction {
  id: string;
  customerId: string;
  externalCustomerId: string;
  at: number;
  channel: string;
  eventType: string;
  content: string;
  segment: string;
  metadata: Record<string, string | number | boolean>;
  sentiment?: MockSentiment | undefined;
  processedAt?: number | undefined;
  version: number;
}

export interface MockCustomer {
  id: string;
  externalId: string;
  email: string;
  firstName: string;
  lastName: string;
  segment: string;
  metadata: Record<string, string | number | boolean>;
  createdAt: number;
  /** How the customer tends to feel (-1..1): drives their interactions' sentiment. */
  mood: number;
  /** Favourite channel. */
  habit: string;
}

export interface MockPattern {
  id: string;
  customerId: string;
  patternType: string;
  confidence: number;
  frequency: number;
  description: string;
  metadata: Record<string, string | number | boolean>;
  evidence: Record<string, string | number | boolean>;
  detectedAt: number;
  validUntil: number;
}

/** mulberry32: a small seeded PRNG, so the data is the same on every load. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function uuid(rand: () => number): string {
  const hex = (n: number): string =>
    Array.from({ length: n }, () => Math.floor(rand() * 16).toString(16)).join("");
  return `${hex(8)}-${hex(4)}-4${hex(3)}-${"89ab"[Math.floor(rand() * 4)]}${hex(3)}-${hex(12)}`;
}

export const CHANNELS = ["web", "mobile", "email", "chat", "phone"] as const;
export const SEGMENTS = ["enterprise", "mid-market", "smb", "consumer"] as const;
export const EVENT_TYPES: Record<string, string[]> = {
  web: ["page_view", "purchase", "cart_abandoned", "product_review"],
  mobile: ["app_open", "purchase", "product_review", "push_opened"],
  email: ["support_email", "newsletter_reply", "complaint"],
  chat: ["support_chat", "sales_chat"],
  phone: ["support_call", "sales_call"],
};
export const ALL_EVENT_TYPES = [...new Set(Object.values(EVENT_TYPES).flat())].sort();
const TEXT_EVENTS = new Set(["product_review", "support_email", "newsletter_reply", "complaint", "support_chat", "sales_chat", "support_call", "sales_call"]);

const FIRST = ["Olivia", "Liam", "Emma", "Noah", "Ava", "Mateo", "Sophia", "Lucas", "Mia", "Ethan", "Amelia", "Hiro", "Priya", "Kwame", "Chloé", "Jonas", "Aisha", "Diego", "Ingrid", "Tariq", "Mei", "Sebastián", "Freya", "Omar", "Zoe", "Ravi", "Hannah", "Luca", "Yuki", "Nora", "Felix", "Leila", "Marcus", "Anya", "Tomás", "Sara"];
const LAST = ["Johnson", "Okafor", "Nakamura", "García", "Müller", "Rossi", "Andersen", "Kowalski", "Haddad", "Silva", "Dubois", "Chen", "Patel", "O'Brien", "Lindqvist", "Novak", "Moreau", "Ibrahim", "Tanaka", "Fischer", "Costa", "Schmidt", "Kaur", "Walsh", "Bianchi", "Jansen", "Reyes", "Kim"];
const COMPANIES = ["northwind.io", "acme-logistics.com", "brightpath.co", "fjordtech.no", "lumen-health.org", "kestrel.app", "tidewater.eu", "orbitfoods.com", "gmail.com", "outlook.com", "proton.me"];
const PLANS = ["Starter", "Growth", "Scale", "Enterprise"];
const COUNTRIES = ["US", "GB", "DE", "FR", "NL", "SE", "JP", "BR", "IN", "CA", "ES"];

const TEXTS: Record<MockSentiment["label"], string[]> = {
  positive: [
    "Thanks for the quick fix, the CSV export works again and my team is happy.",
    "The new dashboard is fantastic. Setting up alerts took me two minutes.",
    "Delivery arrived a day early and the packaging was perfect. Great service!",
    "Your support agent Maya was incredibly patient and solved the billing issue right away.",
    "Love the redesigned mobile app, checkout is so much faster now.",
    "The onboarding call was really helpful, we went live the same afternoon.",
    "Five stars. The product does exactly what the demo promised.",
    "Just renewed for another year, the reporting features keep getting better.",
    "Refund processed within hours, thank you for making it painless.",
    "The integration with our CRM worked on the first try. Impressive.",
    "Really appreciate the proactive email about the maintenance window.",
    "Great webinar yesterday, the tips on segmentation were gold.",
  ],
  neutral: [
    "Can you tell me when the new invoice format takes effect?",
    "I'd like to change the billing address on our account.",
    "Is there a way to export last quarter's data as CSV?",
    "Please add my colleague to the account as a viewer.",
    "What are your support hours on public holidays?",
    "We're evaluating the Scale plan. Could you send the pricing sheet?",
    "How do I reset the password for a user who left the company?",
    "Following up on ticket 48213, any update?",
    "Does the API support batch uploads of more than ten thousand events?",
    "I updated the shipping address, please confirm you got it.",
    "Could we move our onboarding session to Thursday at 10:00?",
    "Which regions are your servers hosted in?",
  ],
  negative: [
    "I've been charged twice for the same order and nobody answers my emails.",
    "The app crashes every time I try to upload a receipt. Very frustrating.",
    "Third time this month the sync has failed overnight. We're losing data.",
    "Waited 40 minutes on hold and the call dropped. Unacceptable.",
    "The package arrived damaged and the replacement is out of stock.",
    "Your last update broke the export, our finance team is blocked.",
    "I want to cancel my subscription, the product is too slow for us.",
    "Support closed my ticket without solving anything.",
    "Prices went up 30% with no notice. We're looking at alternatives.",
    "The login page keeps rejecting my password even after a reset.",
    "Still no refund after two weeks. This is really disappointing.",
    "The chatbot is useless, I just need to talk to a person.",
  ],
};

export const DAY = 86_400_000;
export const HOUR = 3_600_000;

export interface Dataset {
  customers: MockCustomer[];
  interactions: MockInteraction[];
  patterns: MockPattern[];
}

function pick<T>(rand: () => number, xs: readonly T[]): T {
  return xs[Math.floor(rand() * xs.length)] as T;
}

export function sentimentFor(label: MockSentiment["label"], rand: () => number): MockSentiment {
  const top = 0.62 + rand() * 0.34;
  const rest = 1 - top;
  const split = rand();
  const other = [rest * split, rest * (1 - split)];
  let scores: MockSentiment["scores"];
  if (label === "positive") scores = { positive: top, neutral: other[0]!, negative: other[1]! };
  else if (label === "negative") scores = { negative: top, neutral: other[0]!, positive: other[1]! };
  else scores = { neutral: top, positive: other[0]!, negative: other[1]! };
  return { label, scores, confidence: top, score: scores.positive - scores.negative };
}

export function labelFor(mood: number, rand: () => number): MockSentiment["label"] {
  const r = rand() * 2 - 1 + mood * 0.9;
  return r > 0.35 ? "positive" : r < -0.35 ? "negative" : "neutral";
}

/** Activity by hour of day (business hours busier) and weekday (weekends quieter). */
function activityWeight(d: Date): number {
  const h = d.getUTCHours();
  const wd = d.getUTCDay();
  const hour = h < 6 ? 0.15 : h < 8 ? 0.5 : h < 18 ? 1 + (h >= 9 && h <= 11 ? 0.4 : 0) : h < 22 ? 0.7 : 0.3;
  const day = wd === 0 || wd === 6 ? 0.45 : 1;
  return hour * day;
}

export function makeInteraction(
  rand: () => number,
  c: MockCustomer,
  at: number,
  now: number,
  channel = rand() < 0.45 ? c.habit : pick(rand, CHANNELS),
): MockInteraction {
  const eventType = pick(rand, EVENT_TYPES[channel] ?? ["page_view"]);
  // A slow decline for mid-market customers over the period keeps the trend chart honest.
  const drift = c.segment === "mid-market" ? -0.35 * (1 - (now - at) / (60 * DAY)) : 0;
  const label = labelFor(c.mood + drift, rand);
  const hasText = TEXT_EVENTS.has(eventType);
  const content = hasText ? pick(rand, TEXTS[label]) : "";
  const pending = now - at < 20 * 60_000 && rand() < 0.5;
  const metadata: Record<string, string | number | boolean> = {};
  if (eventType === "purchase") {
    metadata["orderValue"] = Math.round(20 + rand() * 480) + 0.99;
    metadata["currency"] = "USD";
  }
  if (channel === "web") metadata["page"] = pick(rand, ["/pricing", "/checkout", "/docs/api", "/account", "/features"]);
  if (channel === "mobile") metadata["appVersion"] = pick(rand, ["5.2.0", "5.2.1", "5.3.0"]);
  if (channel === "phone") metadata["durationS"] = Math.round(60 + rand() * 900);
  const sentiment = hasText || rand() < 0.85 ? sentimentFor(label, rand) : sentimentFor("neutral", rand);
  return {
    id: uuid(rand),
    customerId: c.id,
    externalCustomerId: c.externalId,
    at,
    channel,
    eventType,
    content,
    segment: c.segment,
    metadata,
    sentiment: pending ? undefined : sentiment,
    processedAt: pending ? undefined : at + 800 + Math.floor(rand() * 4000),
    version: 1,
  };
}

export function buildDataset(now = Date.now(), seed = 20260329): Dataset {
  const rand = rng(seed);
  const customers: MockCustomer[] = [];
  for (let i = 0; i < 140; i++) {
    const firstName = pick(rand, FIRST);
    const lastName = pick(rand, LAST);
    const domain = pick(rand, COMPANIES);
    const segment = pick(rand, SEGMENTS);
    customers.push({
      id: uuid(rand),
      externalId: `CUS-${10200 + i * 7}`,
      email: `${firstName}.${lastName}`.toLowerCase().normalize("NFD").replace(/[^a-z.]/g, "") + `@${domain}`,
      firstName,
      lastName,
      segment,
      metadata: { plan: pick(rand, PLANS), country: pick(rand, COUNTRIES) },
      createdAt: now - (70 + Math.floor(rand() * 400)) * DAY,
      mood: rand() * 1.4 - 0.55,
      habit: pick(rand, CHANNELS),
    });
  }
  const interactions: MockInteraction[] = [];
  const start = now - 60 * DAY;
  // Walk the two months hour by hour, more events in busy hours.
  for (let t = start; t < now; t += HOUR) {
    const n = Math.round(activityWeight(new Date(t)) * (1.6 + rand() * 1.4));
    for (let k = 0; k < n; k++) {
      const c = customers[Math.floor(rand() ** 1.3 * customers.length)]!;
      const at = Math.min(now - 1000, t + Math.floor(rand() * HOUR));
      interactions.push(makeInteraction(rand, c, at, now));
    }
  }
  interactions.sort((a, b) => b.at - a.at);
  const patterns = buildPatterns(customers, interactions, now, rand);
  return { customers, interactions, patterns };
}

function buildPatterns(customers: MockCustomer[], interactions: MockInteraction[], now: number, rand: () => number): MockPattern[] {
  const byCustomer = new Map<string, MockInteraction[]>();
  for (const i of interactions) {
    let xs = byCustomer.get(i.customerId);
    if (!xs) byCustomer.set(i.customerId, (xs = []));
    xs.push(i);
  }
  const out: MockPattern[] = [];
  for (const c of customers) {
    const xs = byCustomer.get(c.id) ?? [];
    if (!xs.length) continue;
    const chats = xs.filter((x) => x.channel === "chat" && now - x.at < 30 * DAY).length;
    const scored = xs.filter((x) => x.sentiment);
    const recent = scored.filter((x) => now - x.at < 14 * DAY);
    const older = scored.filter((x) => now - x.at >= 14 * DAY);
    const avg = (ys: MockInteraction[]): number => ys.reduce((s, y) => s + (y.sentiment?.score ?? 0), 0) / Math.max(1, ys.length);
    const make = (patternType: string, confidence: number, frequency: number, description: string,
      evidence: MockPattern["evidence"], metadata: MockPattern["metadata"] = {}): void => {
      out.push({
        id: uuid(rand), customerId: c.id, patternType, confidence: Math.min(1, confidence), frequency, description,
        metadata, evidence, detectedAt: now - Math.floor(rand() * 3 * DAY), validUntil: now + 7 * DAY,
      });
    };
    if (chats >= 6) {
      make("frequent_chat_user", 0.7 + Math.min(0.29, chats / 60), chats,
        `Contacted support through chat ${chats} times in the last 30 days.`,
        { chatsLast30Days: chats, shareOfInteractions: Math.round((chats / xs.length) * 100) / 100 }, { channel: "chat" });
    }
    if (recent.length >= 3 && older.length >= 3 && avg(recent) < avg(older) - 0.3) {
      make("negative_sentiment_trend", 0.72 + rand() * 0.2, recent.length,
        `Average sentiment fell from ${avg(older).toFixed(2)} to ${avg(recent).toFixed(2)} over the last two weeks.`,
        { previousAverage: Math.round(avg(older) * 100) / 100, recentAverage: Math.round(avg(recent) * 100) / 100, recentInteractions: recent.length },
        { direction: "down" });
    }
    const last = xs[0]!;
    const negatives = recent.filter((x) => x.sentiment?.label === "negative").length;
    if (negatives >= 3 && (c.segment === "enterprise" || c.segment === "mid-market")) {
      make("churn_risk", 0.7 + Math.min(0.25, negatives / 20), negatives,
        `${negatives} negative interactions in two weeks from a ${c.segment} account; the last was ${Math.round((now - last.at) / DAY)} days ago.`,
        { negativeLast14Days: negatives, segment: c.segment, lastInteraction: new Date(last.at).toISOString().slice(0, 10) });
    }
    const purchases = xs.filter((x) => x.eventType === "purchase");
    const value = purchases.reduce((s, x) => s + Number(x.metadata["orderValue"] ?? 0), 0);
    if (purchases.length >= 4) {
      make("high_value_purchaser", 0.75 + rand() * 0.2, purchases.length,
        `${purchases.length} purchases worth ${Math.round(value).toLocaleString("en-US")} USD in two months.`,
        { purchases: purchases.length, totalValueUsd: Math.round(value), averageOrderUsd: Math.round(value / purchases.length) });
    }
  }
  out.sort((a, b) => b.confidence - a.confidence);
  return out;
}

export const DEMO_PASSWORD = "Insights-demo-2026";
