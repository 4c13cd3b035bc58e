// Search snippets arrive with matches wrapped in <mark>…</mark>. They are never parsed as HTML:
// the text is split on exactly those two tags and every piece is rendered as a text node, so a
// snippet of "<img onerror=…>" shows as those characters and cannot run anything.

import type { JSX } from "preact";

export interface SnippetPart {
  text: string;
  marked: boolean;
}

export function parseSnippet(snippet: string): SnippetPart[] {
  const parts: SnippetPart[] = [];
  let marked = false;
  for (const piece of snippet.split(/(<mark>|<\/mark>)/)) {
    if (piece === "<mark>") marked = true;
    else if (piece === "</mark>") marked = false;
    else if (piece) parts.push({ text: piece, marked });
  }
  return parts;
}

export function Snippet({ text }: { text: string }): JSX.Element {
  return (
    <span class="snippet">
      {parseSnippet(text).map((p, i) => (p.marked ? <mark key={i}>{p.text}</mark> : <span key={i}>{p.text}</span>))}
    </span>
  );
}
