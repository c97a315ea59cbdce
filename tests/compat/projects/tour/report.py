import json
import os

import orchest

inputs = orchest.get_inputs()
step_params, pipeline_params = orchest.parameters.get_params()
with open(f"/data/tour/{pipeline_params['tag']}.txt") as f:
    data = f.read()
with open("/pipeline.json") as f:
    pipeline = json.load(f)["name"]
result = {
    "values": inputs["values"],
    "totals": inputs["unnamed"],
    "data": data,
    "pipeline": pipeline,
    "pipeline_params": pipeline_params,
    "project_uuid": os.environ["ORCHEST_PROJECT_UUID"],
    "cwd": os.getcwd(),
}
print("RESULT=" + json.dumps(result, sort_keys=True))
