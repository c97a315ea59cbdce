// Starting a run of a project's pipeline (full or of a selection), then
// showing it on the pipeline view.
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { client, unwrap } from "../../api/client";
import type { RunType } from "../../api/types";
import { keys } from "../../live/cache";
import { recentEvents } from "../../live/recent";
import { navigate } from "../../router";

export function useStartRun(project: string, pipeline: string, selected: ReadonlySet<string>) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (type: RunType) =>
      unwrap(
        client.POST("/api/runs", {
          body: { project_uuid: project, pipeline_uuid: pipeline, run_type: type, uuids: type === "full" ? [] : [...selected] },
        }),
      ),
    onSuccess: (created) => {
      qc.setQueryData(keys.run(created.uuid), recentEvents.replay(created));
      void qc.invalidateQueries({ queryKey: ["runs"] });
      navigate(`/projects/${project}/pipelines/${pipeline}?run=${created.uuid}`);
    },
  });
}
