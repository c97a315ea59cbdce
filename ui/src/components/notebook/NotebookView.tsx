// An executed notebook rendered: Markdown cells, code cells with their
// outputs (streams, text, images, errors with their ANSI colours; HTML only
// in a sandboxed iframe, which runs no script and reaches nothing).
import { AnsiText } from "../AnsiText";
import { Markdown } from "./Markdown";
import type { Cell, Shown } from "./notebook";
import "./notebook.css";

function Output({ output }: { output: Shown }) {
  switch (output.kind) {
    case "stream":
      return <pre className={`nb-output nb-stream nb-${output.name}`}>{output.text}</pre>;
    case "text":
      return <pre className="nb-output nb-text">{output.text}</pre>;
    case "markdown":
      return <Markdown source={output.text} />;
    case "image":
      return <img className="nb-output nb-image" src={output.src} alt="A cell's image output" />;
    case "error":
      return (
        <pre className="nb-output nb-error" role="alert" aria-label={`${output.ename}: ${output.evalue}`}>
          <AnsiText text={output.traceback || `${output.ename}: ${output.evalue}`} />
        </pre>
      );
    case "html":
      return <iframe className="nb-output nb-html" sandbox="" srcDoc={output.html} title="A cell's HTML output" />;
  }
}

export function NotebookView({ cells }: { cells: Cell[] }) {
  return (
    <div className="notebook" data-testid="notebook">
      {cells.map((cell, i) => {
        if (cell.kind === "markdown") {
          return (
            <div key={i} className="nb-cell nb-markdown-cell">
              <Markdown source={cell.source} />
            </div>
          );
        }
        if (cell.kind === "raw") {
          return (
            <pre key={i} className="nb-cell nb-raw">
              {cell.source}
            </pre>
          );
        }
        return (
          <div key={i} className="nb-cell nb-code-cell">
            <div className="nb-prompt" aria-hidden="true">
              [{cell.count ?? " "}]
            </div>
            <div className="nb-body">
              <pre className="nb-source">
                <code>{cell.source}</code>
              </pre>
              {cell.outputs.length > 0 && (
                <div className="nb-outputs" data-testid="nb-outputs">
                  {cell.outputs.map((o, j) => (
                    <Output key={j} output={o} />
                  ))}
                </div>
              )}
            </div>
          </div>
        );
      })}
    </div>
  );
}
