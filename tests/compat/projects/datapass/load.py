import os

import orchest
from helpers import data_path, scale, wait_for_all

factor = orchest.get_pipeline_param("factor")
offset = orchest.get_step_param("offset")
base = scale(factor, offset)
orchest.output(base, name="base")

if orchest.get_pipeline_param("use_data"):
    path = data_path(orchest.get_pipeline_param("tag"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(str(base * 3))

wait_for_all(
    orchest.get_pipeline_param("gate"),
    orchest.get_pipeline_param("runs"),
    orchest.get_pipeline_param("tag"),
)
print("load: base", base)
