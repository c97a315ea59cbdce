// A Markdown cell rendered from its parse (markdown.ts): React elements only, no HTML inserted.
import { createElement, type ReactNode } from "react";
import { parseMarkdown, type Block, type Inline } from "./markdown";

function inlines(items: Inline[]): ReactNode[] {
  return items.map((item, i) => {
    switch (item.kind) {
      case "text":
        return item.text;
      case "code":
        return <code key={i}>{item.text}</code>;
      case "strong":
        return <strong key={i}>{inlines(item.children)}</strong>;
      case "em":
        return <em key={i}>{inlines(item.children)}</em>;
      case "link":
        return item.href ? (
          <a key={i} href={item.href} target="_blank" rel="noreferrer noopener">
            {inlines(item.children)}
          </a>
        ) : (
          <span key={i}>{inlines(item.children)}</span>
        );
    }
  });
}

function block(b: Block, key: number): ReactNode {
  switch (b.kind) {
    case "heading":
      return createElement(`h${Math.min(6, b.level + 2)}`, { key }, inlines(b.inlines));
    case "paragraph":
      return <p key={key}>{inlines(b.inlines)}</p>;
    case "quote":
      return <blockquote key={key}>{inlines(b.inlines)}</blockquote>;
    case "code":
      return (
        <pre key={key}>
          <code>{b.text}</code>
        </pre>
      );
    case "rule":
      return <hr key={key} />;
    case "list": {
      const items = b.items.map((item, i) => <li key={i}>{inlines(item)}</li>);
      return b.ordered ? <ol key={key}>{items}</ol> : <ul key={key}>{items}</ul>;
    }
  }
}

export function Markdown({ source }: { source: string }) {
  return <div className="nb-markdown">{parseMarkdown(source).map(block)}</div>;
}
