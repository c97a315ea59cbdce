import json
import os

import orchest
from helpers import data_path

inputs = orchest.get_inputs()
result = {
    "factor": orchest.get_pipeline_param("factor"),
    "base": inputs["base"],
    "doubled": inputs["unnamed"],
    "cwd": os.getcwd(),
}
if orchest.get_pipeline_param("use_data"):
    with open(data_path(orchest.get_pipeline_param("tag"))) as f:
        result["data"] = f.read()
    with open("/pipeline.json") as f:
        result["pipeline"] = json.load(f)["name"]
print("RESULT=" + json.dumps(result))
