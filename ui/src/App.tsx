// The frame (navigation, banners) and the route table: one URL per view.
import { useSyncExternalStore, type ReactNode } from "react";
import { getToken, subscribeToken } from "./auth/token";
import { TokenPrompt, useTokenNeeded } from "./auth/TokenPrompt";
import { ConnectionBanner, LiveProvider } from "./live/LiveProvider";
import { EnvironmentPage } from "./pages/environments/EnvironmentPage";
import { EnvironmentsPage } from "./pages/environments/EnvironmentsPage";
import { HomePage } from "./pages/home/HomePage";
import { JobPage } from "./pages/jobs/JobPage";
import { JobsPage } from "./pages/jobs/JobsPage";
import { NewJobPage } from "./pages/jobs/NewJobPage";
import { EditorPage } from "./pages/pipeline/edit/EditorPage";
import { PipelinePage } from "./pages/pipeline/PipelinePage";
import { ProjectPage } from "./pages/projects/ProjectPage";
import { RunPage } from "./pages/runs/RunPage";
import { RunsPage } from "./pages/runs/RunsPage";
import { SessionsPage } from "./pages/sessions/SessionsPage";
import { Link, match, useLocation } from "./router";

const ROUTES: [string, (p: Record<string, string>, url: URL) => ReactNode][] = [
  ["/", () => <HomePage />],
  ["/projects/:project", (p) => <ProjectPage project={p.project as string} />],
  [
    "/projects/:project/pipelines/:pipeline",
    (p, url) => (
      <PipelinePage
        project={p.project as string}
        pipeline={p.pipeline as string}
        run={url.searchParams.get("run")}
        step={url.searchParams.get("step")}
      />
    ),
  ],
  [
    "/projects/:project/pipelines/:pipeline/edit",
    (p) => <EditorPage project={p.project as string} pipeline={p.pipeline as string} />,
  ],
  ["/projects/:project/environments", (p) => <EnvironmentsPage project={p.project as string} />],
  [
    "/projects/:project/environments/:env",
    (p, url) => (
      <EnvironmentPage project={p.project as string} env={p.env as string} build={url.searchParams.get("build")} />
    ),
  ],
  ["/runs", (_, url) => <RunsPage search={url.searchParams} />],
  ["/runs/:run", (p) => <RunPage run={p.run as string} />],
  ["/jobs", () => <JobsPage />],
  ["/jobs/new", (_, url) => <NewJobPage search={url.searchParams} />],
  ["/jobs/:job", (p) => <JobPage job={p.job as string} />],
  ["/sessions", () => <SessionsPage />],
];

function Page({ url }: { url: URL }) {
  for (const [pattern, render] of ROUTES) {
    const params = match(pattern, url.pathname);
    if (params) return <>{render(params, url)}</>;
  }
  return (
    <main className="page">
      <h1>Not found</h1>
      <p>
        No view at <code>{url.pathname}</code>. <Link to="/">Home</Link>
      </p>
    </main>
  );
}

const NAV: [string, string][] = [
  ["/", "Home"],
  ["/runs", "Runs"],
  ["/jobs", "Jobs"],
  ["/sessions", "Sessions"],
];

export function App() {
  const url = useLocation();
  const needed = useTokenNeeded();
  const token = useSyncExternalStore(subscribeToken, getToken);
  const section = "/" + (url.pathname.split("/")[1] ?? "");
  const project = match("/projects/:project", url.pathname.split("/").slice(0, 3).join("/"))?.project;
  return (
    <LiveProvider token={token}>
      <header className="topbar">
        <Link to="/" className="brand">
          Orchest
        </Link>
        <nav aria-label="Main">
          {NAV.map(([to, label]) => (
            <Link key={to} to={to} aria-current={section === to ? "page" : undefined}>
              {label}
            </Link>
          ))}
          {/* Inside a project: its environments. */}
          {project && (
            <Link to={`/projects/${project}/environments`} aria-current={url.pathname.startsWith(`/projects/${project}/environments`) ? "page" : undefined}>
              Environments
            </Link>
          )}
        </nav>
        {/* The HTTP API's interactive reference, served by the gateway (not a route of the app). */}
        <a href="/api/docs" className="api-docs" target="_blank" rel="noreferrer">
          API reference
        </a>
      </header>
      {/* Without a token the stream is refused too: the prompt says what to do. */}
      {!needed && <ConnectionBanner />}
      {needed ? <TokenPrompt /> : <Page url={url} />}
    </LiveProvider>
  );
}
